import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
const kvm = new Kvm(nc);
const kv = await kvm.open(`fmtest_cluster_${process.argv[2]}_leases`);
for (;;) {
  const now = Date.now();
  const members = {}; const owners = {};
  for await (const k of await kv.keys()) {
    const e = await kv.get(k); if (!e || e.operation !== 'PUT') continue;
    const v = e.json(); const [name, kind] = k.split('=2E');
    if (kind === 'm') { if (v.expires > now) (members[name] ??= []).push(v.owner.slice(0,4)); }
    else if (v.expires > now) { (owners[name] ??= {}); owners[name][v.owner.slice(0,4)] = (owners[name][v.owner.slice(0,4)] ?? 0) + 1; }
  }
  console.log(new Date().toISOString().slice(11,19), JSON.stringify(members), JSON.stringify(owners));
  await new Promise(r => setTimeout(r, 1000));
}
