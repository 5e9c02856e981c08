// Every method of today's worker-manager reference (taskcluster-client 87.1.3's
// apis.js, plus v106's shouldWorkerTerminate), called through the official
// JavaScript client as a current user, tool or worker calls them. Written from
// reading today's services/worker-manager/src/api.js; the Go test checks each
// answer against the current schemas and what it must say.
//
// Usage: node wm-today.mjs <taskcluster-client dir> <JSON of the input>
// The input holds rootUrl, rootToken, phase ("pools": pools, static workers,
// launch configs; "worker": a fake-cloud instance's registration and everything
// that needs a live aws worker), and the pools' ids and configs.
// Prints {"calls": [...]}: one entry per call, with the method's name, a label,
// and either the answer (body) or the failure (status, code).
import { load } from './todays-client.mjs';

const [clientDir, inputJSON] = process.argv.slice(2);
const input = JSON.parse(inputJSON);
const { reference, WorkerManager } = await load(clientDir);
const client = credentials => new WorkerManager({ rootUrl: input.rootUrl, credentials, retries: 0 });
const root = client({ clientId: 'root', accessToken: input.rootToken });
const anon = client();

const calls = [];
const methods = reference.entries.filter(e => e.type === 'function').map(e => e.name);
// call records what wm[method](...args) answered, under label.
const call = async (wm, method, label, ...args) => {
  try {
    const body = await wm[method](...args);
    calls.push({ method, label, ok: true, body: body === undefined ? null : body });
    return body;
  } catch (err) {
    calls.push({ method, label, ok: false, status: err.statusCode || 0, code: err.code || String(err) });
    return undefined;
  }
};

const day = 24 * 3600 * 1000;
const { awsPool, staticPool, awsDefinition } = input;
const [provisionerId, workerType] = awsPool.split('/');
const staticSecret = 'c3RhdGljLXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVm-XY0';
const otherSecret = 'b3RoZXItc2VjcmV0LTAxMjM0NTY3ODlhYmNkZWZnaGk0';

if (input.phase === 'pools') {
  await call(anon, 'ping', '');
  await call(anon, 'lbheartbeat', '');
  await call(anon, 'version', '');
  await call(anon, 'heartbeat', '');
  await call(root, 'listProviders', '');

  await call(root, 'createWorkerPool', 'aws', awsPool, awsDefinition);
  // The same pool again is no conflict when its definition equals the stored one
  // (WorkerPool.create's equals(): launch configs with their ids, as read back).
  const stored = await call(root, 'workerPool', 'aws as stored', awsPool);
  if (stored) {
    const { providerId, description, owner, emailOnError, config } = stored;
    await call(root, 'createWorkerPool', 'aws again as read', awsPool, { providerId, description, owner, emailOnError, config });
  }
  await call(root, 'createWorkerPool', 'aws other', awsPool, { ...awsDefinition, description: 'another definition' });
  const staticDefinition = {
    providerId: 'static', description: 'racks', owner: 'ci@example.com', emailOnError: false,
    config: { lifecycle: { reregistrationTimeout: 3600 }, workerConfig: { genericWorker: { config: { deploymentId: 'racks' } } } },
  };
  await call(root, 'createWorkerPool', 'static', staticPool, staticDefinition);
  await call(root, 'workerPool', 'aws', awsPool);

  // What today's worker-manager refuses, and what it answers for what is not there.
  const withConfig = change => ({ ...awsDefinition, config: change(structuredClone(awsDefinition.config)) });
  const missing = 'proj-today/missing';
  await call(root, 'createWorkerPool', 'queueInactivityTimeout below 1200', 'proj-today/bad-1',
    withConfig(c => ({ ...c, lifecycle: { ...c.lifecycle, queueInactivityTimeout: 60 } })));
  await call(root, 'createWorkerPool', 'initialWeight above 1', 'proj-today/bad-2',
    withConfig(c => { c.launchConfigs[0].workerManager.initialWeight = 2; return c; }));
  await call(root, 'createWorkerPool', 'capacityPerInstance 0', 'proj-today/bad-3',
    withConfig(c => { c.launchConfigs[0].workerManager.capacityPerInstance = 0; return c; }));
  await call(root, 'createWorkerPool', 'launchConfigId not an identifier', 'proj-today/bad-4',
    withConfig(c => { c.launchConfigs[0].workerManager.launchConfigId = 'lc east a'; return c; }));
  await call(root, 'createWorker', 'aws pool', awsPool, 'us-east-1', 'i-0handmade', { expires: new Date(Date.now() + day).toJSON() });
  await call(root, 'updateWorker', 'missing', staticPool, 'rack-1', 'host-9',
    { expires: new Date(Date.now() + day).toJSON(), providerInfo: { staticSecret } });
  await call(root, 'worker', 'missing', staticPool, 'rack-1', 'host-9');
  await call(root, 'removeWorker', 'missing', staticPool, 'rack-1', 'host-9');
  await call(root, 'shouldWorkerTerminate', 'missing', staticPool, 'rack-1', 'host-9');
  await call(root, 'workerPool', 'missing', missing);
  await call(root, 'workerPoolStats', 'missing', missing);
  await call(root, 'listWorkerPoolLaunchConfigs', 'missing', missing);
  await call(root, 'workerPoolErrorStats', 'missing', { workerPoolId: missing });
  await call(root, 'listWorkersForWorkerPool', 'missing', missing);
  await call(root, 'listWorkersForWorkerPool', 'standalone', awsPool, { state: 'standalone' });
  await call(root, 'listWorkerPoolLaunchConfigs', 'includeArchived maybe', awsPool, { includeArchived: 'maybe' });
  await call(root, 'listWorkerPools', '');
  await call(root, 'listWorkerPools', 'limit 1', { limit: 1 });
  await call(root, 'listWorkerPoolLaunchConfigs', 'created', awsPool);
  // A launch config id names one launch config forever: other content under it is
  // a conflict; its workerManager settings alone may change.
  const withFirst = change => ({
    ...awsDefinition,
    config: { ...awsDefinition.config, launchConfigs: awsDefinition.config.launchConfigs.map((lc, i) => (i === 0 ? change(lc) : lc)) },
  });
  await call(root, 'updateWorkerPool', 'id reused', awsPool,
    withFirst(lc => ({ ...lc, launchConfig: { ...lc.launchConfig, InstanceType: 'c5.large' } })));
  await call(root, 'updateWorkerPool', 'workerManager changed', awsPool,
    withFirst(lc => ({ ...lc, workerManager: { ...lc.workerManager, maxCapacity: 3 } })));
  await call(root, 'updateWorkerPool', 'back', awsPool, awsDefinition);

  // A static worker: created, created again, updated, read, registered.
  const expires = new Date(Date.now() + day).toJSON();
  await call(root, 'createWorker', 'static', staticPool, 'rack-1', 'host-1', { capacity: 2, expires, providerInfo: { staticSecret } });
  await call(root, 'createWorker', 'static again', staticPool, 'rack-1', 'host-1', { capacity: 2, expires, providerInfo: { staticSecret: otherSecret } });
  await call(root, 'createWorker', 'static no capacity', staticPool, 'rack-1', 'host-2', { expires, providerInfo: { staticSecret: otherSecret } });
  await call(root, 'updateWorker', 'static', staticPool, 'rack-1', 'host-1',
    { capacity: 3, expires: new Date(Date.now() + 2 * day).toJSON(), providerInfo: { staticSecret } });
  await call(root, 'worker', 'static', staticPool, 'rack-1', 'host-1');
  await call(root, 'listWorkersForWorkerGroup', 'static', staticPool, 'rack-1');
  await call(root, 'listWorkersForWorkerPool', 'static', staticPool);
  const reg = await call(anon, 'registerWorker', 'static', {
    workerPoolId: staticPool, providerId: 'static', workerGroup: 'rack-1', workerId: 'host-1',
    workerIdentityProof: { staticSecret },
  });
  if (reg) {
    await call(client(reg.credentials), 'reportWorkerError', 'static', staticPool, {
      kind: 'disk-full', title: 'Disk full', description: '/ is full', extra: { free: 0 }, workerGroup: 'rack-1', workerId: 'host-1',
    });
    await call(client(reg.credentials), 'shouldWorkerTerminate', 'static', staticPool, 'rack-1', 'host-1');
  }
  await call(root, 'removeWorker', 'static host-2', staticPool, 'rack-1', 'host-2');
  await call(root, 'worker', 'static host-2 removed', staticPool, 'rack-1', 'host-2');
} else {
  // A fake-cloud instance of awsPool has been launched: find it, register it.
  const listed = await call(root, 'listWorkersForWorkerPool', 'all', awsPool);
  const w = listed?.workers.find(w => w.workerId === input.instanceId);
  if (!w) {
    console.log(JSON.stringify({ calls, methods, error: `instance ${input.instanceId} is not among the pool's workers` }));
    process.exit(0);
  }
  const { workerGroup, workerId, launchConfigId } = w;
  const other = launchConfigId === 'lc-other-zzz' ? 'lc-other-yyy' : 'lc-other-zzz';
  await call(root, 'listWorkersForWorkerPool', 'requested', awsPool, { state: 'requested' });
  await call(root, 'listWorkersForWorkerPool', 'running before', awsPool, { state: 'running' });
  await call(root, 'listWorkersForWorkerPool', 'its launchConfigId', awsPool, { launchConfigId });
  await call(root, 'listWorkersForWorkerPool', 'other launchConfigId', awsPool, { launchConfigId: other });

  const reg = await call(anon, 'registerWorker', 'aws', {
    workerPoolId: awsPool, providerId: 'aws', workerGroup, workerId,
    workerIdentityProof: { document: input.document, signature: input.signature },
    systemBootTime: new Date(Date.now() - 30_000).toJSON(),
  });
  if (!reg) {
    console.log(JSON.stringify({ calls, methods, error: 'registerWorker failed' }));
    process.exit(0);
  }
  const renewed = await call(client(reg.credentials), 'reregisterWorker', 'aws', { workerPoolId: awsPool, workerGroup, workerId, secret: reg.secret });
  const creds = (renewed || reg).credentials;
  const asWorker = client(creds);

  await call(root, 'listWorkersForWorkerPool', 'running', awsPool, { state: 'running' });
  await call(root, 'listWorkersForWorkerPool', 'requested after', awsPool, { state: 'requested' });
  await call(root, 'listWorkersForWorkerPool', 'stopped', awsPool, { state: 'stopped' });
  await call(root, 'worker', 'aws', awsPool, workerGroup, workerId);
  await call(root, 'listWorkersForWorkerGroup', 'aws', awsPool, workerGroup);
  await call(root, 'listWorkers', 'aws', provisionerId, workerType);
  await call(root, 'listWorkers', 'running', provisionerId, workerType, { workerState: 'running' });
  await call(root, 'listWorkers', 'stopped', provisionerId, workerType, { workerState: 'stopped' });
  await call(root, 'listWorkers', 'its launchConfigId', provisionerId, workerType, { launchConfigId });
  await call(root, 'listWorkers', 'other launchConfigId', provisionerId, workerType, { launchConfigId: other });
  await call(root, 'getWorker', 'aws', provisionerId, workerType, workerGroup, workerId);
  await call(asWorker, 'shouldWorkerTerminate', 'aws', awsPool, workerGroup, workerId);

  const reported = await call(asWorker, 'reportWorkerError', 'aws', awsPool, {
    kind: 'worker-runner', title: 'Image broken', description: 'the image lacks a docker daemon', extra: { exitCode: 1 },
    workerGroup, workerId,
  });
  await call(asWorker, 'reportWorkerError', 'aws second', awsPool, {
    kind: 'worker-runner', title: 'Image broken again', description: '', extra: {}, workerGroup, workerId,
  });
  await call(root, 'listWorkerPoolErrors', 'aws', awsPool);
  if (reported) {
    await call(root, 'listWorkerPoolErrors', 'errorId', awsPool, { errorId: reported.errorId });
  }
  await call(root, 'listWorkerPoolErrors', 'its launchConfigId', awsPool, { launchConfigId });
  await call(root, 'listWorkerPoolErrors', 'other launchConfigId', awsPool, { launchConfigId: other });
  await call(root, 'workerPoolErrorStats', 'all');
  await call(root, 'workerPoolErrorStats', 'aws', { workerPoolId: awsPool });
  await call(root, 'workerPoolStats', 'aws', awsPool);
  await call(root, 'listWorkerPoolsStats', '');

  // Drop a launch config the worker was not launched from: it is archived.
  const before = await call(root, 'workerPool', 'before drop', awsPool);
  if (before) {
    const lcs = before.config.launchConfigs;
    const dropped = lcs.find(lc => lc.workerManager.launchConfigId !== launchConfigId);
    const kept = lcs.filter(lc => lc !== dropped);
    const body = { ...before, config: { ...before.config, launchConfigs: kept } };
    for (const k of ['currentCapacity', 'requestedCount', 'runningCount', 'stoppingCount', 'stoppedCount',
      'requestedCapacity', 'runningCapacity', 'stoppingCapacity', 'stoppedCapacity']) {
      delete body[k]; // not in update-worker-pool-request: today's worker-manager refuses them
    }
    calls.push({ method: '', label: 'dropped', ok: true, body: { launchConfigId: dropped.workerManager.launchConfigId } });
    await call(root, 'updateWorkerPool', 'drop one', awsPool, body);
    await call(root, 'listWorkerPoolLaunchConfigs', 'after drop', awsPool);
    await call(root, 'listWorkerPoolLaunchConfigs', 'after drop, includeArchived', awsPool, { includeArchived: true });
    await call(root, 'listWorkerPoolLaunchConfigs', 'after drop, includeArchived false', awsPool, { includeArchived: false });
    // The same launch config again is the same id, active again.
    await call(root, 'updateWorkerPool', 'restore', awsPool, { ...body, config: before.config });
    await call(root, 'listWorkerPoolLaunchConfigs', 'after restore', awsPool);
  }

  await call(asWorker, 'removeWorker', 'aws itself', awsPool, workerGroup, workerId);
  await call(root, 'worker', 'aws removed', awsPool, workerGroup, workerId);
  await call(root, 'deleteWorkerPool', 'static', staticPool);
  await call(root, 'deleteWorkerPool', 'aws', awsPool);
  await call(root, 'workerPool', 'after delete', awsPool);
  await call(root, 'listWorkerPoolLaunchConfigs', 'after delete', awsPool);
  await call(root, 'listWorkerPoolLaunchConfigs', 'after delete, includeArchived', awsPool, { includeArchived: true });
}
console.log(JSON.stringify({ calls, methods }));
