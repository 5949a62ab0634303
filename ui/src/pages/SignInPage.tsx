/** Sign in with an API token; the token stays in this tab's sessionStorage only. */
import { useState, type FormEvent } from 'react';
import { useAuth } from '../auth.js';
import { ErrorNote } from '../components/ui.js';

export function SignInPage() {
  const { signIn } = useAuth();
  const [token, setToken] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(token.trim());
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <main className="signin">
      <div className="brand" style={{ marginBottom: 18, justifyContent: 'center', fontSize: 20 }}>
        <span className="brand-dot" />
        gaplab
      </div>
      <form className="card form" onSubmit={submit}>
        <h1 style={{ fontSize: 18 }}>Sign in</h1>
        <p className="muted" style={{ margin: 0 }}>
          Paste the API token you were given. What you can do follows your role: viewers read,
          researchers run campaigns, PIs govern them.
        </p>
        <label className="field">
          Token
          <input
            name="token"
            type="password"
            autoComplete="off"
            autoFocus
            value={token}
            onChange={(e) => setToken(e.target.value)}
            placeholder="gaplab token"
          />
        </label>
        {error ? <ErrorNote error={error} prefix="Sign-in failed" /> : null}
        <button
          className="primary"
          type="submit"
          disabled={!token.trim() || busy}
          style={{ justifyContent: 'center' }}
        >
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
