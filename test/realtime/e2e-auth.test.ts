// The session as an app holds it, through supabase-js's own auth against bbb's /auth/v1 (docs/realtime.md's
// example): signing up hands realtime the user's token before anything subscribes; a refreshed session's new
// token reaches the joined channel, which keeps receiving; signing out falls back to the anon key, and the
// user's rows stop.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { insertJob, startJob } from '../../src/queue/jobs.ts';
import { enqueueUrls } from '../../src/queue/tasks.ts';
import { waitFor } from '../support/wait.ts';
import { expOf, liveStack, tokenTaken } from './e2e-fixture.ts';
import { jobBindings } from './endpoint-fixture.ts';

// Tokens issued in the same second with the same claims are the same token: sign-up happens on a clock two
// seconds behind, so the refreshed session's token differs, as it would in an app.
let skewMs = -2_000;
const stack = await liveStack({ now: () => Date.now() + skewMs });

test('supabase.auth’s session drives the channel: sign-up, a refreshed session, then sign-out', async () => {
  const client = await stack.client({ auth: true });
  const { supabase } = client;
  const signedUp = await supabase.auth.signUp({
    email: `${randomUUID().slice(0, 8)}@auth.test`,
    password: `pw-${randomUUID()}`,
  });
  assert.equal(signedUp.error, null);
  const session = signedUp.data.session!;
  assert.equal(supabase.realtime.accessTokenValue, session.access_token, 'set as it signed in');
  const userId = session.user.id;
  const org = await stack.call({ token: session.access_token }, 'POST', '/v1/organisations', {
    name: 'Signed up',
  });
  assert.equal(org.status, 201);
  const jobId = (
    await insertJob(stack.sql, { organisationId: org.body.id, rootUrl: 'https://auth.example/' })
  ).id;
  const watch = await client.watch('job-updates', jobBindings(jobId));
  const control = await (await stack.client({ key: 'service' })).watch('control', jobBindings(jobId));
  const task = async (path: string) => {
    const [row] = (await enqueueUrls(stack.sql, jobId, [`https://auth.example/${path}`])).inserted;
    await control.changes.until(`task ${path} on the control`, (items) =>
      items.some((c) => c.new.id === row!.id),
    );
    return row!.id;
  };

  await startJob(stack.sql, jobId);
  await watch.changes.until('the job starting', (items) => items.some((c) => c.new.status === 'running'));

  skewMs = 0;
  const refreshed = await supabase.auth.refreshSession();
  assert.equal(refreshed.error, null);
  const newToken = refreshed.data.session!.access_token;
  assert.notEqual(newToken, session.access_token);
  await waitFor(
    'supabase-js to pass on the refreshed token',
    () => supabase.realtime.accessTokenValue === newToken,
  );
  await tokenTaken(stack, userId, expOf(newToken));
  const afterRefresh = await task('refreshed');
  await watch.changes.until('a task after the refresh', (items) =>
    items.some((c) => c.new.id === afterRefresh),
  );

  assert.equal((await supabase.auth.signOut()).error, null);
  await waitFor(
    'the channel to act with the anon key',
    () =>
      supabase.realtime.accessTokenValue === stack.anonKey &&
      stack.subscriptions().every((s) => s.audience().claims.sub !== userId),
  );
  const afterSignOut = await task('signed-out');
  await client.flush();
  assert.ok(!watch.changes.items.some((c) => c.new.id === afterSignOut), 'nothing after signing out');
  assert.ok(!client.changeFrames().some((f) => f.payload.data.record?.id === afterSignOut));
  assert.deepEqual(watch.statuses.items, ['SUBSCRIBED'], 'the channel stayed joined throughout');
  assert.deepEqual(stack.problems, []);
});
