// Settings: the controller's own, the browser sessions (and ending them all), and
// where the token lives. The token itself is never shown.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { ErrorNote, Loading, toast } from '../components.jsx';
import { ms, when } from '../format.js';

export function Settings() {
  const [info, setInfo] = useState(null);
  const [sessions, setSessions] = useState(null);
  const [error, setError] = useState(null);
  const load = useCallback(() => {
    Promise.all([api('GET', '/api/v1/info'), api('GET', '/api/v1/sessions')])
      .then(([i, s]) => {
        setInfo(i);
        setSessions(s.sessions);
        setError(null);
      })
      .catch(setError);
  }, []);
  useEffect(load, [load]);
  async function endAll() {
    if (!window.confirm('End every browser session, this one too? Everyone signs in again with the token.')) return;
    try {
      const r = await api('DELETE', '/api/v1/sessions');
      toast(`${r.ended} session(s) ended.`);
      load();
    } catch (e) {
      setError(e);
    }
  }
  return (
    <section aria-labelledby="set-title">
      <div class="view-head">
        <h1 id="set-title" tabIndex={-1}>
          Settings
        </h1>
      </div>
      <ErrorNote error={error} />
      {!info && !error && <Loading what="settings" />}
      {info && (
        <div class="columns">
          <section class="card" aria-labelledby="ctl-h">
            <header class="card-head">
              <h2 id="ctl-h">Controller</h2>
            </header>
            <dl class="props">
              <dt>Version</dt>
              <dd>{info.version}</dd>
              <dt>Listens on</dt>
              <dd class="mono">{info.listen}</dd>
              <dt>Database</dt>
              <dd class="mono">
                {info.db} (schema {info.schema})
              </dd>
              <dt>Host offline after</dt>
              <dd>{ms(info.offline_after_ms)} of silence</dd>
              <dt>Events so far</dt>
              <dd>{info.events_last}</dd>
            </dl>
            <p class="small muted">
              These come from <code>flyt-controller</code>'s options (<code>--listen</code>, <code>--db</code>,{' '}
              <code>--offline-after</code>, <code>--session-ttl</code>) or its <code>--config</code> file.
            </p>
          </section>
          <section class="card" aria-labelledby="tok-h">
            <header class="card-head">
              <h2 id="tok-h">Token and sessions</h2>
            </header>
            <p>
              The cluster token is in <code>{info.token_file}</code> on the controller's host. This page never shows it.
              To replace it, write a new token there (<code>openssl rand -hex 32</code>), give it to every agent and
              client, restart the controller, and end all sessions below.
            </p>
            <p>
              Sessions last {Math.round(info.session_ttl_min / 60)} h; the cookie is{' '}
              {info.cookie_secure ? 'sent over HTTPS only' : 'not marked Secure (use --cookie-secure behind HTTPS)'}.
            </p>
            {!sessions && <Loading what="sessions" />}
            {sessions && (
              <div class="table-wrap">
                <table class="list">
                  <caption class="sr-only">Browser sessions</caption>
                  <thead>
                    <tr>
                      <th scope="col">Signed in</th>
                      <th scope="col">From</th>
                      <th scope="col" class="opt">
                        Browser
                      </th>
                      <th scope="col">Expires</th>
                    </tr>
                  </thead>
                  <tbody>
                    {sessions.map((s) => (
                      <tr>
                        <td>
                          {when(s.created)}
                          {s.current && <strong> (this one)</strong>}
                        </td>
                        <td class="mono">{s.peer}</td>
                        <td class="opt small">{s.agent}</td>
                        <td>{when(s.expires)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
            <button type="button" class="danger" onClick={endAll}>
              End all sessions
            </button>
          </section>
          <section class="card" aria-labelledby="auto-h">
            <header class="card-head">
              <h2 id="auto-h">Automatic migration</h2>
            </header>
            <p>
              This controller has no migration policy yet: workloads move only when someone migrates them. Each
              workload's auto-migrate flag is shown in the workloads list.
            </p>
          </section>
        </div>
      )}
    </section>
  );
}
