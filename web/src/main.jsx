// The flyt web UI: sign-in, then the views under one layout, kept live by the
// controller's event stream.
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { onSignedOut, resumeSession, signOut } from './api.js';
import { Toasts, toast } from './components.jsx';
import { startLive, stopLive, subscribe, useLiveStatus } from './live.js';
import { useRoute } from './router.js';
import { SignIn } from './views/signin.jsx';
import { Hosts } from './views/hosts.jsx';
import { Workloads } from './views/workloads.jsx';
import { Workload } from './views/workload.jsx';
import { AddWorkload } from './views/add.jsx';
import { Migrations, Migration } from './views/migrations.jsx';
import { Settings } from './views/settings.jsx';
import { Decisions, Decision } from './views/decisions.jsx';

const NAV = [
  ['/hosts', 'Hosts'],
  ['/workloads', 'Workloads'],
  ['/add', 'Add workload'],
  ['/migrations', 'Migrations'],
  ['/decisions', 'Decisions'],
  ['/settings', 'Settings'],
];

function LiveIndicator() {
  const s = useLiveStatus();
  const text = { live: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…', closed: 'Offline' }[s] || s;
  return (
    <span class={`live live-${s}`} role="status" aria-live="polite" title="Updates from the controller">
      {text}
    </span>
  );
}

function View({ route }) {
  const [top, second] = route.parts;
  switch (top) {
    case 'hosts':
      return <Hosts />;
    case 'workloads':
      return second ? <Workload name={second} /> : <Workloads params={route.params} />;
    case 'add':
      return <AddWorkload params={route.params} />;
    case 'migrations':
      return second ? <Migration id={second} /> : <Migrations />;
    case 'decisions':
      return second ? <Decision id={second} /> : <Decisions params={route.params} />;
    case 'settings':
      return <Settings />;
    default:
      return (
        <section>
          <h1>Not found</h1>
          <p>
            There is no page <code>{route.path}</code>. <a href="#/hosts">Go to the hosts</a>.
          </p>
        </section>
      );
  }
}

// Failures are told wherever one is: the reason and where the workload runs now.
function useMigrationNotices() {
  useEffect(
    () =>
      subscribe(
        (e) => {
          if (e.state === 'committed') toast(`${e.workload} moved (migration committed).`, 'ok');
          else toast(`Migration of ${e.workload} ${e.state.replace('_', ' ')}: the workload stays on its source.`, 'error');
        },
        ['migration.finished'],
      ),
    [],
  );
}

function Shell({ session, onSignOut }) {
  const route = useRoute();
  useMigrationNotices();
  useEffect(() => {
    const title = NAV.find(([p]) => route.path.startsWith(p));
    document.title = `${title ? title[1] : 'flyt'} · flyt`;
  }, [route.path]);
  const first = useRef(true);
  useEffect(() => {
    // after a navigation (not on the first load) focus moves to the new view's
    // heading, so keyboard and screen reader users land where the content changed
    if (first.current) {
      first.current = false;
      return;
    }
    const h = document.querySelector('main h1');
    if (h) h.focus({ preventScroll: true });
  }, [route.path]);
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main').focus(); }}>
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="#/hosts" aria-label="flyt: hosts">
          <img src="/favicon.svg" alt="" width="24" height="24" /> flyt
        </a>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([p, label]) => (
              <li>
                <a href={`#${p}`} aria-current={route.path.startsWith(p) ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="top-right">
          <LiveIndicator />
          <button type="button" class="secondary" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <View route={route} />
      </main>
      <Toasts />
    </>
  );
}

function App() {
  const [session, setSession] = useState(undefined); // undefined: asking, null: signed out
  const [error, setError] = useState(null);
  useEffect(() => {
    resumeSession()
      .then((s) => setSession(s))
      .catch((e) => {
        setError(e);
        setSession(null);
      });
    return onSignedOut(() => {
      stopLive();
      setSession(null);
    });
  }, []);
  useEffect(() => {
    if (session) startLive();
  }, [session]);
  if (session === undefined) return <p class="muted center">Loading…</p>;
  if (!session) return <SignIn onSignedIn={setSession} startupError={error} />;
  return (
    <Shell
      session={session}
      onSignOut={async () => {
        try {
          await signOut();
        } catch {
          /* signed out locally anyway */
        }
      }}
    />
  );
}

render(<App />, document.getElementById('app'));
