// A real OpenID provider for the single sign-on tests: panva's certified `oidc-provider`
// (npm, pinned in scripts/setup, installed under build/oidc-provider), configured with one
// confidential client and a few accounts, listening on 127.0.0.1 on a free port.
//
//   node tests/fakes/oidc_provider.mjs CONFIG.json
//
// CONFIG: {"module_dir": ".../build/oidc-provider", "client_id", "client_secret",
//          "redirect_uris": [...], "accounts": {"<login>": {"password", "email",
//          "email_verified", "groups": [...]}}}
// Prints one JSON line {"issuer": "http://127.0.0.1:PORT"} once it serves requests.
//
// The login page is the provider's own development interaction (a login/password form, then a
// consent form); the password is checked against the account here, so a wrong one fails.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const entry = path.join(config.module_dir, 'node_modules', 'oidc-provider', 'lib', 'index.js');
const { default: Provider } = await import(pathToFileURL(entry).href);

const accounts = config.accounts;
const server = http.createServer();

server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: config.client_id,
      client_secret: config.client_secret,
      redirect_uris: config.redirect_uris,
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    pkce: { required: () => true }, // a request without an S256 challenge is refused
    scopes: ['openid', 'email', 'profile', 'groups'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups'],
    },
    cookies: { keys: ['recflow-test-cookie-key'] },
    features: { devInteractions: { enabled: true } },
    async findAccount(ctx, id) {
      const account = accounts[id];
      if (!account) return undefined;
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            email: account.email,
            email_verified: account.email_verified ?? true,
            name: id,
            groups: account.groups ?? [],
          };
        },
      };
    },
  });
  // the dev login form accepts any password; ours must match the account's
  provider.use(async (ctx, next) => {
    if (ctx.method === 'POST' && /^\/interaction\/[^/]+$/.test(ctx.path)) {
      const chunks = [];
      for await (const chunk of ctx.req) chunks.push(chunk);
      const raw = Buffer.concat(chunks).toString();
      const form = new URLSearchParams(raw);
      if (form.get('prompt') === 'login') {
        const account = accounts[form.get('login')];
        if (!account || account.password !== form.get('password')) {
          ctx.status = 401;
          ctx.type = 'html';
          ctx.body = '<!doctype html><title>Sign-in failed</title><p id="op-error">Wrong login or password.</p>';
          return;
        }
      }
      // the body is read: the provider's parser takes it from here (its documented fallback)
      ctx.request.body = raw;
    }
    await next();
  });
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

process.on('SIGTERM', () => process.exit(0));
