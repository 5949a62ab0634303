/** The app shell: sign-in gate, top bar with breadcrumbs and the signed-in person, and routes. */
import { lazy, Suspense } from 'react';
import { Link, Route, Router, Switch } from 'wouter';
import { AuthProvider, useAuth } from './auth.js';
import { CrumbsProvider, CrumbsView } from './components/crumbs.js';
import { Loading, Pill } from './components/ui.js';
import { SignInPage } from './pages/SignInPage.js';

// Each page is its own chunk: the lineage's d3 and the editors' YAML load only where used.
const ProblemsPage = lazy(() =>
  import('./pages/ProblemsPage.js').then((m) => ({ default: m.ProblemsPage })),
);
const ProblemPage = lazy(() =>
  import('./pages/ProblemPage.js').then((m) => ({ default: m.ProblemPage })),
);
const CampaignPage = lazy(() =>
  import('./pages/CampaignPage.js').then((m) => ({ default: m.CampaignPage })),
);
const LineagePage = lazy(() =>
  import('./pages/LineagePage.js').then((m) => ({ default: m.LineagePage })),
);
const AnalysisPage = lazy(() =>
  import('./pages/AnalysisPage.js').then((m) => ({ default: m.AnalysisPage })),
);
const ComparePage = lazy(() =>
  import('./pages/ComparePage.js').then((m) => ({ default: m.ComparePage })),
);
const TrialPage = lazy(() =>
  import('./pages/TrialPage.js').then((m) => ({ default: m.TrialPage })),
);

/**
 * Addresses are plain paths (`/campaigns/<id>`), so every link the CLI, the demo and reports
 * print opens as it is. Links of the hash-routed form (`/#/campaigns/<id>`) still open: they are
 * rewritten to the path before the first render.
 */
function adoptHashRoute(): void {
  const { hash, search } = window.location;
  if (hash.startsWith('#/')) window.history.replaceState(null, '', `${hash.slice(1)}${search}`);
}

// Before the first render, so the router starts at the path; and again whenever only the hash
// changes (a #/ link opened on a page already loaded does not load the page again). The router
// hears the replaced address.
adoptHashRoute();
window.addEventListener('hashchange', adoptHashRoute);

export function App() {
  return (
    <AuthProvider>
      <Router>
        <Shell />
      </Router>
    </AuthProvider>
  );
}

function Shell() {
  const { token, me, loading, signOut } = useAuth();
  if (!me) return loading ? <Loading what="Signing in" /> : <SignInPage />;
  return (
    <CrumbsProvider>
      <header className="topbar">
        <Link href="/" className="brand">
          <span className="brand-dot" />
          gaplab
        </Link>
        <CrumbsView />
        <div className="spacer" />
        {me && (
          <div className="who" data-testid="who">
            <span>{me.name}</span>
            <Pill tone={me.role === 'pi' ? 'accent' : me.role === 'viewer' ? 'neutral' : 'info'}>
              <span data-testid="role">{me.role}</span>
            </Pill>
            {me.auth === 'tokens' && token && (
              <button className="ghost small" onClick={signOut}>
                Sign out
              </button>
            )}
          </div>
        )}
      </header>
      <Suspense
        fallback={
          <main className="page">
            <Loading />
          </main>
        }
      >
        <Switch>
          <Route path="/">{() => <ProblemsPage />}</Route>
          <Route path="/problems/:problemId">
            {(p) => <ProblemPage problemId={decodeURIComponent(p.problemId)} />}
          </Route>
          <Route path="/campaigns/:campaignId/lineage">
            {(p) => <LineagePage campaignId={decodeURIComponent(p.campaignId)} />}
          </Route>
          <Route path="/campaigns/:campaignId/analysis">
            {(p) => <AnalysisPage campaignId={decodeURIComponent(p.campaignId)} />}
          </Route>
          <Route path="/campaigns/:campaignId/compare">
            {(p) => <ComparePage campaignId={decodeURIComponent(p.campaignId)} />}
          </Route>
          <Route path="/campaigns/:campaignId/trials/:trialId">
            {(p) => (
              <TrialPage
                campaignId={decodeURIComponent(p.campaignId)}
                trialId={decodeURIComponent(p.trialId)}
              />
            )}
          </Route>
          <Route path="/campaigns/:campaignId">
            {(p) => <CampaignPage campaignId={decodeURIComponent(p.campaignId)} />}
          </Route>
          <Route>
            <main className="page">
              <h1>Not found</h1>
              <p className="muted">
                Nothing lives at this address. <Link href="/">Back to the problems.</Link>
              </p>
            </main>
          </Route>
        </Switch>
      </Suspense>
    </CrumbsProvider>
  );
}
