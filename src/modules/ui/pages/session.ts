import { clearAuthCookies } from '../../../http/cookies.js';
import type { PageGroup } from '../index.js';

/** Ending the page session: POST /sign-out ends the session (as POST /auth/logout does) and clears the cookies. */
export const sessionPages: PageGroup = (r, ui) => {
  r.post('/sign-out', { form: 'sign-out', rateLimit: 'default' }, async (p) => {
    const s = await p.session();
    if (s) await ui.deps.services.sessions.logout(s, p.ctx);
    clearAuthCookies(p.reply, ui.deps.config.basePath);
    return p.redirect(p.url('/sign-in'));
  });
};
