// Sign-in: the cluster token once; the controller answers with a session cookie
// the page cannot read, and the token is forgotten here.
import { useState } from 'preact/hooks';
import { signIn } from '../api.js';
import { Field } from '../components.jsx';

export function SignIn({ onSignedIn, startupError }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState(startupError ? startupError.message : null);
  const [busy, setBusy] = useState(false);
  async function submit(e) {
    e.preventDefault();
    if (!token.trim()) {
      setError('Enter the cluster token.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const s = await signIn(token.trim());
      setToken('');
      onSignedIn(s);
    } catch (err) {
      setError(err.status === 401 ? 'That is not the cluster token.' : err.message);
    } finally {
      setBusy(false);
    }
  }
  return (
    <main class="signin" id="main">
      <form onSubmit={submit} noValidate aria-labelledby="signin-title">
        <h1 id="signin-title">
          <img src="/favicon.svg" alt="" width="32" height="32" /> Sign in to flyt
        </h1>
        <p class="muted">
          Paste the cluster token: the contents of the controller's token file (<code>/etc/flyt/token</code> unless
          configured otherwise).
        </p>
        <Field id="token" label="Cluster token" error={error}>
          <input
            id="token"
            name="token"
            type="password"
            autocomplete="current-password"
            value={token}
            onInput={(e) => setToken(e.currentTarget.value)}
            aria-invalid={error ? 'true' : undefined}
            aria-describedby={error ? 'token-error' : undefined}
            autoFocus
          />
        </Field>
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
