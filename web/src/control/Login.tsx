import { useState, type FormEvent } from 'react';
import { ApiError, login, type Session } from '../lib/api';

/** Log in to a tenant with e-mail and password (POST /auth/login). */
export function Login({ onLogin, title = 'Follow Me Control Center', defaultTenant = '', embedded = false, logoUrl }: { onLogin: (s: Session) => void; title?: string; defaultTenant?: string; embedded?: boolean; logoUrl?: string }) {
  const [tenant, setTenant] = useState(defaultTenant);
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const id = embedded ? 'member-login' : 'login';
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      onLogin(await login(tenant.trim(), email.trim(), password));
    } catch (err) {
      setError(err instanceof ApiError ? err.message : `Could not reach the server: ${String(err)}`);
    } finally {
      setBusy(false);
    }
  };
  const Box = embedded ? 'div' : 'main';
  return (
    <Box className={embedded ? undefined : 'login'}>
      {embedded ? <p>{title}</p> : <div className="brand"><img src={logoUrl ?? '/app/icon.svg'} alt="" /><h1>{title}</h1></div>}
      <form onSubmit={submit} aria-describedby={error ? 'login-error' : undefined}>
        <label htmlFor={`${id}-tenant`}>Organisation (tenant)</label>
        <input id={`${id}-tenant`} name="tenant" autoComplete="organization" required value={tenant} onChange={(e) => setTenant(e.target.value)} placeholder="demo" />
        <label htmlFor={`${id}-email`}>E-mail</label>
        <input id={`${id}-email`} name="email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <label htmlFor={`${id}-password`}>Password</label>
        <input id={`${id}-password`} name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        {error && <p id="login-error" role="alert" className="error">{error}</p>}
        <button type="submit" disabled={busy}>{busy ? 'Logging in…' : 'Log in'}</button>
      </form>
    </Box>
  );
}
