// Today's official JavaScript client, as the worker-manager compatibility scripts
// use it: taskcluster-client 87.1.3 loaded from the directory the Go test installed
// it into, and its WorkerManager with v106's shouldWorkerTerminate, which 87.1.3
// predates (v96), added to its reference as today's reference has it.
import { pathToFileURL } from 'node:url';
import path from 'node:path';

// load returns the client module, today's WorkerManager reference, and a
// WorkerManager class built from it.
export async function load(clientDir) {
  const src = f => pathToFileURL(path.join(clientDir, 'node_modules', 'taskcluster-client', 'src', f)).href;
  const tc = await import(src('index.js'));
  const apis = (await import(src('apis.js'))).default;
  const reference = structuredClone(apis.WorkerManager.reference);
  reference.entries.push({
    type: 'function', method: 'get', name: 'shouldWorkerTerminate', title: 'Should worker terminate',
    route: '/workers/<workerPoolId>/<workerGroup>/<workerId>/should-terminate',
    args: ['workerPoolId', 'workerGroup', 'workerId'], query: [], category: 'Workers', stability: 'experimental',
    scopes: 'worker-manager:should-worker-terminate:<workerPoolId>/<workerGroup>/<workerId>',
    output: 'v1/should-worker-terminate-response.json#', description: 'today\'s worker-manager',
  });
  return { tc, reference, WorkerManager: tc.createClient(reference, 'WorkerManager') };
}
