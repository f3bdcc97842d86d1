// The console's pages and who may see them. Every page but login needs a session; pages marked
// `admin` are for admins only (the API enforces the same; hiding them is only for clarity).

import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router';
import { isAdmin, loadSession, session } from './session.ts';

declare module 'vue-router' {
  interface RouteMeta {
    title: string;
    public?: boolean;
    admin?: boolean;
  }
}

export const routes: RouteRecordRaw[] = [
  {
    path: '/login',
    component: () => import('./pages/LoginPage.vue'),
    meta: { title: 'Log in', public: true },
  },
  { path: '/', component: () => import('./pages/DashboardPage.vue'), meta: { title: 'Dashboard' } },
  { path: '/licenses', component: () => import('./pages/LicensesPage.vue'), meta: { title: 'Licenses' } },
  {
    path: '/mappings',
    component: () => import('./pages/MappingsPage.vue'),
    meta: { title: 'Port mappings' },
  },
  {
    path: '/ports',
    component: () => import('./pages/PortPoolPage.vue'),
    meta: { title: 'Port pool', admin: true },
  },
  { path: '/users', component: () => import('./pages/UsersPage.vue'), meta: { title: 'Users', admin: true } },
  {
    path: '/domains',
    component: () => import('./pages/DomainsPage.vue'),
    meta: { title: 'Domains', admin: true },
  },
  {
    path: '/security-groups',
    component: () => import('./pages/SecurityGroupsPage.vue'),
    meta: { title: 'Security groups', admin: true },
  },
  { path: '/traffic', component: () => import('./pages/TrafficPage.vue'), meta: { title: 'Traffic' } },
  {
    path: '/connections',
    component: () => import('./pages/ConnectionsPage.vue'),
    meta: { title: 'Client connections' },
  },
  {
    path: '/logins',
    component: () => import('./pages/LoginLogPage.vue'),
    meta: { title: 'Login log', admin: true },
  },
  { path: '/account', component: () => import('./pages/AccountPage.vue'), meta: { title: 'Account' } },
  { path: '/:rest(.*)*', component: () => import('./pages/NotFoundPage.vue'), meta: { title: 'Not found' } },
];

export const router = createRouter({ history: createWebHistory(), routes });

router.beforeEach(async (to) => {
  const account = await loadSession();
  if (to.meta.public) return account && to.path === '/login' ? '/' : true;
  if (!account) return { path: '/login', query: to.fullPath === '/' ? {} : { next: to.fullPath } };
  if (to.meta.admin && !isAdmin()) return '/';
  return true;
});

router.afterEach((to) => {
  document.title = `${to.meta.title} · Muon`;
});

/** Back to login, keeping where the user was (after a 401: expired session or restart). */
export function toLogin(): void {
  session.account = null;
  const here = router.currentRoute.value;
  if (!here.meta.public) void router.push({ path: '/login', query: { next: here.fullPath } });
}
