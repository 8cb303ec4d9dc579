/**
 * E-mail over SMTP (nodemailer). The outbox row id becomes the Message-ID, so a retry after a
 * crash between hand-over and bookkeeping carries the same id and mail systems can drop the repeat.
 */
import nodemailer, { type Transporter } from 'nodemailer';
import { PermanentChannelError, plainText, type Channel, type ChannelJob, type ChannelOutcome } from './channel.js';

export interface EmailSettings {
  /** smtp://user:pass@host:port or smtps://…; empty: e-mail is off. */
  url: string;
  from: string;
}

export class EmailChannel implements Channel {
  readonly name = 'email' as const;
  readonly configured: boolean;
  private readonly transport: Transporter | undefined;

  constructor(private readonly settings: EmailSettings) {
    this.configured = settings.url !== '';
    this.transport = this.configured ? nodemailer.createTransport(settings.url) : undefined;
  }

  async send(job: ChannelJob): Promise<ChannelOutcome> {
    if (!this.transport) throw new PermanentChannelError('e-mail is not configured (FOLLOWME_SMTP_URL)');
    const priority = job.message.priority === 'normal' ? 'normal' : 'high';
    try {
      await this.transport.sendMail({
        from: job.from ?? this.settings.from,
        to: job.address,
        subject: job.message.priority === 'critical' ? `[CRITICAL] ${job.message.title}` : job.message.title,
        text: plainText(job),
        messageId: `<${job.id}@followme>`,
        priority,
        headers: { 'X-FollowMe-Message': job.message.id },
      });
    } catch (err) {
      // 5xx SMTP replies (mailbox unknown, refused) will not get better by waiting
      const code = (err as { responseCode?: number }).responseCode;
      if (code !== undefined && code >= 500) throw new PermanentChannelError(`SMTP ${code}: ${(err as Error).message}`);
      throw err;
    }
    return 'sent';
  }

  close(): void {
    this.transport?.close();
  }
}
