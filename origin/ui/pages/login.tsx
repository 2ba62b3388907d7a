import type { FC } from 'hono/jsx'
import { Csrf, Layout, type PageContext } from '../layout.tsx'

export const LoginPage: FC<{ ctx: PageContext; next: string; username?: string; error?: string }> = (p) => (
  <Layout ctx={p.ctx} title="Sign in">
    <section class="signin card">
      <h1>Sign in to Wharf</h1>
      {p.error ? (
        <p class="alert" role="alert" id="login-error">
          {p.error}
        </p>
      ) : null}
      <form method="post" action="/login">
        <Csrf token={p.ctx.csrf} />
        <input type="hidden" name="next" value={p.next} />
        <label>
          Username
          <input name="username" autocomplete="username" required autofocus value={p.username ?? ''} maxlength={200} />
        </label>
        <label>
          Password
          <input name="password" type="password" autocomplete="current-password" required maxlength={1024} />
        </label>
        <button type="submit" class="primary">
          Sign in
        </button>
      </form>
      <p class="muted small">
        Local and directory (LDAP) accounts sign in here. Scripts and registry clients use personal access tokens
        instead.
      </p>
    </section>
  </Layout>
)
