// A tiny HTTP proxy in front of a test registry, with hooks to misbehave on purpose: answer by
// itself (429), alter bytes, or cut the connection mid-body. Host is forwarded unchanged, so
// the registry's Location headers point back at the proxy.
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ProxyHooks {
  /** Answer without forwarding; return true when the request was handled. */
  intercept?(req: IncomingMessage, res: ServerResponse): boolean;
  /** Change the request headers sent upstream. */
  requestHeaders?(req: IncomingMessage, headers: Record<string, string | string[] | undefined>): Record<string, string | string[] | undefined>;
  /** Forward the upstream response yourself; return true when handled. */
  respond?(req: IncomingMessage, upstream: IncomingMessage, res: ServerResponse): boolean;
}

export interface ProxyHandle {
  readonly host: string;
  readonly url: string;
  /** Every request seen: method, path and the Range header. */
  readonly seen: { method: string; path: string; range: string | undefined; headers: IncomingMessage['headers'] }[];
  hooks: ProxyHooks;
  stop(): Promise<void>;
}

export async function startProxy(upstream: string, hooks: ProxyHooks = {}): Promise<ProxyHandle> {
  const [upstreamHost, upstreamPort] = upstream.split(':') as [string, string];
  const sockets = new Set<Socket>();
  const handle: ProxyHandle = {
    host: '',
    url: '',
    seen: [],
    hooks,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((req, res) => {
    handle.seen.push({ method: req.method ?? '', path: req.url ?? '', range: req.headers.range, headers: req.headers });
    if (handle.hooks.intercept?.(req, res)) {
      req.resume();
      return;
    }
    const headers = handle.hooks.requestHeaders ? handle.hooks.requestHeaders(req, { ...req.headers }) : req.headers;
    const out = request({ host: upstreamHost, port: Number(upstreamPort), method: req.method, path: req.url, headers }, (up) => {
      if (handle.hooks.respond?.(req, up, res)) return;
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  Object.assign(handle, { host: `127.0.0.1:${port}`, url: `http://127.0.0.1:${port}` });
  return handle;
}

/** `/v2/<repo>/blobs/sha256:…` GET? */
export function isBlobGet(req: IncomingMessage): boolean {
  return req.method === 'GET' && /\/blobs\/sha256:[a-f0-9]{64}$/.test(req.url ?? '');
}
