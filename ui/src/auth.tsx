/**
 * Who is signed in. The token lives in sessionStorage (gone when the tab closes); the person's
 * name and role come from GET /me, and every control asks `useCan` before it offers itself.
 */
import { useQuery, useQueryClient } from '@tanstack/react-query';
import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useState,
  type ReactNode,
} from 'react';
import { api, getToken, onUnauthorized, setToken, takeTokenFromUrl } from './api.js';
import { permission, type Action, type Permission } from './lib/roles.js';
import type { Me } from './types.js';

interface AuthState {
  token: string | null;
  me: Me | null;
  loading: boolean;
  signIn(token: string): Promise<Me>;
  signOut(): void;
}

const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [token, setTokenState] = useState<string | null>(() => {
    takeTokenFromUrl();
    return getToken();
  });
  // Without a token this answers 401, which shows the sign-in page.
  const me = useQuery({
    queryKey: ['me', token],
    queryFn: () => api<Me>('/me'),
    staleTime: Infinity,
  });

  const signOut = useCallback(() => {
    setToken(null);
    setTokenState(null);
    queryClient.clear();
  }, [queryClient]);

  const signIn = useCallback(
    async (t: string) => {
      const who = await api<Me>('/me', { token: t });
      setToken(t);
      queryClient.clear();
      queryClient.setQueryData(['me', t], who);
      setTokenState(t);
      return who;
    },
    [queryClient],
  );

  useEffect(() => onUnauthorized(signOut), [signOut]);

  const value = useMemo<AuthState>(
    () => ({
      token,
      me: me.data ?? null,
      loading: token !== null && me.isPending,
      signIn,
      signOut,
    }),
    [token, me.data, me.isPending, signIn, signOut],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error('useAuth outside AuthProvider');
  return ctx;
}

/** Whether the signed-in person may do `action`, and why not. */
export function useCan(action: Action): Permission {
  const { me } = useAuth();
  return permission(me?.role, action);
}
