// The worker protocol of today's worker-runner (v87-v106) and generic-worker
// (v96+), driven through the official JavaScript client: register with
// systemBootTime, renew twice with each renewal's secret, ask whether to stop,
// report an error with the renewed credentials, remove itself at exit. Written
// from reading worker-runner's registration/registration.go and generic-worker's
// checkWhetherToTerminate; today's worker-runner cannot be built here (its Go
// module is not served), so this is what it does, not it.
//
// Usage: node worker-today.mjs <taskcluster-client dir> <JSON of the worker>
// Prints one JSON object: what each call answered.
import { load } from './todays-client.mjs';

const [clientDir, workerJSON] = process.argv.slice(2);
const w = JSON.parse(workerJSON);
const { WorkerManager } = await load(clientDir);
const client = credentials => new WorkerManager({ rootUrl: w.rootUrl, credentials, retries: 0 });
const ids = { workerPoolId: w.workerPoolId, workerGroup: w.workerGroup, workerId: w.workerId };
const failure = async call => {
  try {
    await call();
    return { status: 200 };
  } catch (err) {
    return { status: err.statusCode, code: err.code };
  }
};

const out = {};
out.register = await client().registerWorker({
  ...ids, providerId: w.providerId,
  workerIdentityProof: { document: w.document, signature: w.signature },
  systemBootTime: new Date(Date.now() - 30_000).toJSON(),
});
let { credentials, secret } = out.register;
out.renewals = [];
for (let i = 0; i < 2; i++) {
  const renewed = await client(credentials).reregisterWorker({ ...ids, secret });
  // The secret just used is spent.
  renewed.reuse = await failure(() => client(renewed.credentials).reregisterWorker({ ...ids, secret }));
  out.renewals.push(renewed);
  ({ credentials, secret } = renewed);
}
out.shouldTerminate = await client(credentials).shouldWorkerTerminate(w.workerPoolId, w.workerGroup, w.workerId);
out.reportError = await client(credentials).reportWorkerError(w.workerPoolId, {
  kind: 'worker-runner', title: 'renewed credentials work', description: 'reported after two renewals', extra: {},
  workerGroup: w.workerGroup, workerId: w.workerId,
});
out.removeOther = await failure(() => client(credentials).removeWorker(w.workerPoolId, w.workerGroup, 'i-0someoneelse'));
out.remove = await client(credentials).removeWorker(w.workerPoolId, w.workerGroup, w.workerId);
out.renewAfterRemove = await failure(() => client(credentials).reregisterWorker({ ...ids, secret }));
console.log(JSON.stringify(out));
