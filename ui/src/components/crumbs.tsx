/** Breadcrumbs in the top bar, set by each page for where it sits (problem › campaign › trial). */
import { createContext, Fragment, useContext, useEffect, useState, type ReactNode } from 'react';
import { Link } from 'wouter';

export interface Crumb {
  label: string;
  href?: string;
}

const Ctx = createContext<{ crumbs: Crumb[]; set: (c: Crumb[]) => void }>({
  crumbs: [],
  set: () => {},
});

export function CrumbsProvider({ children }: { children: ReactNode }) {
  const [crumbs, set] = useState<Crumb[]>([]);
  return <Ctx.Provider value={{ crumbs, set }}>{children}</Ctx.Provider>;
}

export function useCrumbs(crumbs: Crumb[]): void {
  const { set } = useContext(Ctx);
  const key = JSON.stringify(crumbs);
  useEffect(() => {
    set(JSON.parse(key) as Crumb[]);
    document.title = [...(JSON.parse(key) as Crumb[])]
      .reverse()
      .map((c) => c.label)
      .concat('gaplab')
      .join(' · ');
  }, [key, set]);
}

export function CrumbsView() {
  const { crumbs } = useContext(Ctx);
  return (
    <nav className="crumbs" aria-label="breadcrumbs">
      <Link href="/">Problems</Link>
      {crumbs.map((c, i) => (
        <Fragment key={i}>
          <span className="sep">/</span>
          {c.href && i < crumbs.length - 1 ? (
            <Link href={c.href}>{c.label}</Link>
          ) : (
            <span className="here">{c.label}</span>
          )}
        </Fragment>
      ))}
    </nav>
  );
}
