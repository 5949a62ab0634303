/**
 * Whether to ask for a new connection per request (`Connection: close`).
 *
 * MLflow's server (uvicorn in front of its WSGI app, MLflow 3.x) answers a request on a
 * kept-alive connection 20-40 ms later than the same request on a fresh one, whatever the
 * endpoint (`/health` included): measured on loopback, 39 ms against 19 ms for a run creation,
 * and 17 against 21 trials recorded per second at 8 in parallel. A loopback connection costs
 * a fraction of a millisecond, so the client sends `Connection: close` to `http://` tracking URIs
 * on loopback (client.ts); remote and `https://` servers keep `fetch`'s pooled connections, where
 * a new connection (and TLS handshake) per request would cost more than it saves. Served by
 * gunicorn's synchronous workers (as gaplab's local stack runs it), MLflow closes every
 * connection after its answer anyway. Decision record:
 * docs/decisions/0007-local-mlflow-gunicorn-fresh-connections.md.
 */

/** Whether `uri` is plain HTTP on this machine, where a fresh connection per request pays. */
export function isLoopbackHttp(uri: string): boolean {
  try {
    const u = new URL(uri);
    return (
      u.protocol === 'http:' &&
      (u.hostname === 'localhost' ||
        u.hostname === '[::1]' ||
        /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(u.hostname))
    );
  } catch {
    return false;
  }
}
