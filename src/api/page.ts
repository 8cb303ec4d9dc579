/** The few plain HTML pages the server itself serves (share links, invitations, the platform console): one frame for all. */
import type { FastifyReply } from 'fastify';

/** A complete, self-contained page: no external resources, not indexed, no favicon request. */
export function htmlPage(title: string, style: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<link rel="icon" href="data:,">
<title>${title}</title>
<style>${style}</style>
</head>
<body>
${body}
</body>
</html>`;
}

/** Sends a page without leaking its URL (which may hold a token) to other sites, and without caching it. */
export function sendPage(reply: FastifyReply, html: string): FastifyReply {
  return reply.type('text/html; charset=utf-8').header('referrer-policy', 'no-referrer').header('cache-control', 'no-store').send(html);
}
