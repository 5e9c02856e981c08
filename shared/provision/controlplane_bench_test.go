package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/dev/storetest"
	"github.com/workerfleet/workerfleet/shared/ec2events"
	"github.com/workerfleet/workerfleet/shared/store"
)

// BenchmarkControlPlane measures what the control plane costs per iteration at
// fleet scale, each phase once (run it with -benchtime 1x):
//
//   - cold: the first iteration of a fresh provisioner (a cold Lambda);
//   - steady: iterations where nothing changed;
//   - churn (events): 5 % of the instances end before each iteration, their EC2
//     events reach the records through ec2-events;
//   - churn (lost): the same with every EC2 event lost.
//
// Per phase and iteration it logs DynamoDB requests and read/write units (DynamoDB
// Local's ReturnConsumedCapacity; the in-memory store reports none), the
// ec2-events handler's requests, EC2 calls, client CPU (the process's user+system
// time: DynamoDB Local runs in its own process, the in-memory store and the fake
// cloud in this one), wall time and the peak heap above the heap before the cold
// iteration; and the ratio of the steady iteration's time to a raw read of the
// same live records (one Query per pool of the live index, not decoded).
// WF_BENCH_CPUPROFILE writes the steady iterations' CPU profile, and
// WF_BENCH_HEAPPROFILE the heap profile at the live heap's peak (written when it
// passes the last one written by 2 %).
//
// Sizes come from WF_BENCH_SIZES, "pools x workers-per-pool" separated by commas
// (default "100x20"); WORKERFLEET_TEST_STORE=memdb runs on the in-memory store:
//
//	WF_BENCH_SIZES=1000x20 go test -run '^$' -bench ControlPlane -benchtime 1x -timeout 2h ./shared/provision/
//	WF_BENCH_SIZES=10000x20 WORKERFLEET_TEST_STORE=memdb go test -run '^$' -bench ControlPlane -benchtime 1x -timeout 2h ./shared/provision/
//
// It uses only what the provisioner exported before the control-plane work, so the
// same file measures the commit it branched from.
func BenchmarkControlPlane(b *testing.B) {
	sizes := os.Getenv("WF_BENCH_SIZES")
	if sizes == "" {
		sizes = "100x20"
	}
	for _, sz := range strings.Split(sizes, ",") {
		pools, perPool := parseSize(b, sz)
		b.Run(fmt.Sprintf("pools=%d/workers=%d", pools, pools*perPool), func(b *testing.B) {
			for range b.N {
				benchControlPlane(b, pools, perPool)
			}
		})
	}
}

// benchPoolConfig is the tests' pool (awsPoolConfig) at minCapacity and
// maxCapacity n, with a registration timeout longer than the benchmark: its
// workers never register, and must not be replaced for it halfway.
func benchPoolConfig(n int) string {
	cfg := fmt.Sprintf(awsPoolConfig, n, n)
	return strings.Replace(cfg, `"registrationTimeout": 600`, `"registrationTimeout": 86400`, 1)
}

func parseSize(b *testing.B, s string) (int, int) {
	p, w, ok := strings.Cut(strings.TrimSpace(s), "x")
	pools, err1 := strconv.Atoi(p)
	per, err2 := strconv.Atoi(w)
	if !ok || err1 != nil || err2 != nil {
		b.Fatalf("WF_BENCH_SIZES: %q is not pools x workers-per-pool", s)
	}
	return pools, per
}

func benchControlPlane(b *testing.B, pools, perPool int) {
	e := newEnv(b)
	e.cloud.SetEventSink(nil) // the warm-up reconciles states instead: faster to set up
	prov := &unitsDB{DB: storetest.DB(b)}
	evDB := &unitsDB{DB: storetest.DB(b)}
	tables, key := e.store.Tables(), storetest.Key(b)
	s := store.New(prov, tables, key, store.WithClock(e.clock.Now))
	e.p.Store = s
	events := &ec2events.Handler{Store: store.New(evDB, tables, key, store.WithClock(e.clock.Now)), Log: quiet}
	sink := func(ctx context.Context, raw json.RawMessage) {
		if err := events.HandleRaw(ctx, raw); err != nil {
			b.Errorf("ec2 event: %v", err)
		}
	}

	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range pools {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			e.createPool(fmt.Sprintf("bench/pool-%05d", i), "aws", benchPoolConfig(perPool))
		}()
	}
	wg.Wait()
	start := time.Now()
	e.iterate() // launches every pool's minCapacity
	e.advance(time.Minute)
	e.iterate() // records EC2's states
	e.iterate()
	b.Logf("setup: %d pools, %d instances in %v", pools, len(e.cloud.AllInstances()), time.Since(start).Round(time.Second))

	// The setup wrote every record within a minute; a deployment's iterations see
	// only the last seconds' writes. The clock moves on a minute (nothing happens:
	// every instance runs) and 15 s before each steady iteration (the cadence).
	e.advance(time.Minute)

	// A fresh provisioner, as a cold Lambda starts.
	fresh := func() {
		old := e.p
		e.p = &Provisioner{Store: old.Store, Cloud: old.Cloud, Demand: old.Demand, Config: old.Config, Log: old.Log}
	}
	fresh()
	runtime.GC()
	base := heapBytes()
	peak := startPeak(heapBytes)
	var rows []phaseRow
	measure := func(name string, n int, before func() int, check func(*Report)) {
		var row phaseRow
		row.name, row.n = name, n
		for range n {
			prov.reset()
			evDB.reset()
			changed := 0
			if before != nil {
				changed = before()
			}
			prov.reset() // the provisioner's requests: the iteration's only
			e.cloud.ResetCalls()
			cpu0 := cpuTime()
			t0 := time.Now()
			rep := e.iterate()
			row.wall += time.Since(t0)
			row.cpu += cpuTime() - cpu0
			if check != nil {
				check(rep)
			}
			r, rr, ww := prov.totals()
			row.req += r
			row.rcu += rr
			row.wcu += ww
			er, erc, ewc := evDB.totals()
			row.evReq += er
			row.evRCU += erc
			row.evWCU += ewc // the events of the changes before the iteration, and during it
			for _, n := range e.cloud.Calls() {
				row.ec2 += n
			}
			row.changed += changed
			row.launched += rep.Launched
		}
		row.ops = prov.opsSummary()
		rows = append(rows, row)
	}
	steady := func(rep *Report) {
		if rep.Launched != 0 || rep.Terminated != 0 || len(rep.Problems) != 0 {
			b.Fatalf("not a steady state: launched %d, terminated %d, problems %v", rep.Launched, rep.Terminated, rep.Problems)
		}
	}
	measure("cold (first iteration of a process)", 1, nil, steady)
	if path := os.Getenv("WF_BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer f.Close()
	}
	measure("steady (nothing changed)", 3, func() int { e.advance(15 * time.Second); return 0 }, steady)
	pprof.StopCPUProfile()
	peakHeap := peak() - base
	runtime.GC()
	retained := heapBytes() - base
	base = heapBytes()
	peak = startPeak(heapBytes)

	// Churn: 5 % of the instances end (workers shutting down) before each
	// iteration; 40 s later the iteration runs (their shutdown is over).
	// interruptions: 5 % of the instances get EC2's spot interruption warning
	// (and, as EC2 sends them, a rebalance recommendation); the iteration runs
	// once EC2 has taken them back, 2 min 40 s later.
	// victims are 5 % of the running instances, spread over them the same way
	// each time.
	victims := func() []cloud.Instance {
		var running []cloud.Instance
		for _, inst := range e.cloud.AllInstances() {
			if inst.State == cloud.StateRunning {
				running = append(running, inst)
			}
		}
		sort.Slice(running, func(i, j int) bool { return running[i].ID < running[j].ID })
		out := make([]cloud.Instance, len(running)/20)
		for i := range out {
			out[i] = running[(i*7919)%len(running)]
		}
		return out
	}
	interruptions := func() int {
		vs := victims()
		for _, v := range vs {
			if err := e.cloud.Interrupt(v.ID); err != nil {
				b.Fatal(err)
			}
		}
		e.advance(2*time.Minute + 40*time.Second)
		return len(vs)
	}
	churn := func() int {
		vs := victims()
		byRegion := map[string][]string{}
		for _, v := range vs {
			byRegion[v.Region] = append(byRegion[v.Region], v.ID)
		}
		for region, batch := range byRegion {
			if err := e.set.Terminate(ctx, region, batch); err != nil {
				b.Fatal(err)
			}
		}
		e.advance(40 * time.Second)
		return len(vs)
	}
	e.cloud.SetEventSink(sink)
	measure("churn 5% (EC2 events delivered)", 3, churn, nil)
	measure("churn 5% spot interruptions", 3, interruptions, nil)
	e.cloud.SetEventSink(nil)
	measure("churn 5% (EC2 events lost)", 3, churn, nil)
	churnHeap := peak() - base

	// The provisioner's live heap: the most a collection found live (marked)
	// during a fresh provisioner's cold iteration and a steady one, above what
	// was live before, with the collector running at every 1 % of growth so
	// that collections come often. Garbage never counts, whatever the
	// collector's pacing (which, with the in-memory store's tables and the fake
	// cloud's instances in this process, about 2 GB at 200,000 workers, lags far
	// behind: the heap's objects, live or not, ran 300-500 MB above the live
	// peak). What the fakes hold while serving the iteration (query results,
	// EC2's listing) counts: in Lambda the SDK holds the same. This is what a
	// Lambda's memory must hold: GOMEMLIMIT makes its collector work harder
	// rather than exceed it.
	fresh()
	old := debug.SetGCPercent(1)
	runtime.GC()
	liveBase := liveBytes()
	var liveProfile []string
	if path := os.Getenv("WF_BENCH_HEAPPROFILE"); path != "" {
		liveProfile = append(liveProfile, path)
	}
	livePeak := startPeak(liveBytes, liveProfile...)
	e.advance(15 * time.Second)
	e.iterate()
	e.advance(15 * time.Second)
	e.iterate()
	live := livePeak() - liveBase
	debug.SetGCPercent(old)

	// The same under a Lambda's limit: the collector off but for a memory limit
	// of what the process holds now plus 85 % of the provisioner's 1,024 MB (what
	// GOMEMLIMIT gives it). An iteration whose live heap does not fit makes the
	// collector run back to back (hundreds of collections); one that fits needs
	// a few.
	fresh()
	debug.FreeOSMemory() // the limit counts the heap's free pages until they are released
	oldPercent, oldLimit := debug.SetGCPercent(-1), debug.SetMemoryLimit(-1)
	limit := int64(lambdaLimit)
	if mb, err := strconv.Atoi(os.Getenv("WF_BENCH_LIMIT_MB")); err == nil {
		limit = int64(mb) << 20 // to see what too little memory does
	}
	debug.SetMemoryLimit(int64(goMemory()) + limit)
	gc0, limited0 := readMetric("/gc/cycles/total:gc-cycles"), time.Now()
	e.advance(15 * time.Second)
	e.iterate()
	e.advance(15 * time.Second)
	e.iterate()
	limitedGCs, limited := readMetric("/gc/cycles/total:gc-cycles")-gc0, time.Since(limited0)
	debug.SetMemoryLimit(oldLimit)
	debug.SetGCPercent(oldPercent)

	// The raw read of the same records: every pool's live records, one Query
	// (and its pages) per pool, 16 at a time, not decoded.
	rawStart := time.Now()
	items := rawRead(b, storetest.DB(b), tables.Workers, pools)
	raw := time.Since(rawStart)

	// Printed, not logged: the testing package cuts a benchmark's log short.
	fmt.Printf("=== pools=%d workers=%d (store: %s)\n", pools, pools*perPool, storeName())
	fmt.Printf("heap: peak during cold+steady %.1f MB above the heap before (%.0f B per live worker); retained after them %.1f MB; peak during churn %.1f MB above the heap before it (the in-memory store and fake cloud grow there too)\n",
		float64(peakHeap)/1e6, float64(peakHeap)/float64(max(1, items)), float64(int64(retained))/1e6, float64(churnHeap)/1e6)
	fmt.Printf("live heap of a fresh provisioner's cold and steady iterations (the most a collection marked live): peak %.1f MB above the heap before (%.0f B per live worker)\n",
		float64(live)/1e6, float64(live)/float64(max(1, items)))
	fmt.Printf("the same under a memory limit %d MB above the process's memory (870: a 1,024 MB Lambda's GOMEMLIMIT; WF_BENCH_LIMIT_MB sets it), collector otherwise off: %d collections, %v\n",
		limit>>20, limitedGCs, limited.Round(time.Millisecond))
	fmt.Printf("raw read of the %d live records: %v\n", items, raw.Round(time.Millisecond))
	fmt.Printf("%-38s %9s %9s %9s %9s %7s %7s %9s %9s %8s %7s\n", "per iteration", "requests", "RCU", "WCU", "ev-req", "EC2", "changed", "CPU", "wall", "wall/raw", "launch")
	for _, r := range rows {
		n := float64(r.n)
		fmt.Printf("%-38s %9.0f %9.0f %9.0f %9.0f %7.0f %7.0f %9v %9v %8.2f %7.0f\n", r.name, float64(r.req)/n, r.rcu/n, r.wcu/n, float64(r.evReq)/n,
			float64(r.ec2)/n, float64(r.changed)/n, (r.cpu / time.Duration(r.n)).Round(time.Millisecond), (r.wall / time.Duration(r.n)).Round(time.Millisecond),
			float64(r.wall)/n/float64(raw), float64(r.launched)/n)
		fmt.Printf("    %s; ec2-events %.0f RCU %.0f WCU per iteration\n", r.ops, r.evRCU/n, r.evWCU/n)
	}
	for _, r := range rows {
		if strings.HasPrefix(r.name, "steady") {
			b.ReportMetric(float64(r.req)/float64(r.n), "steady-requests/op")
			b.ReportMetric(float64(r.cpu.Milliseconds())/float64(r.n), "steady-cpu-ms/op")
		}
	}
	b.ReportMetric(float64(peakHeap)/1e6, "peak-heap-MB")
}

func storeName() string {
	if storetest.InMemory() {
		return "in-memory"
	}
	return "DynamoDB Local"
}

type phaseRow struct {
	name              string
	n                 int
	req, evReq, ec2   int
	rcu, wcu          float64
	evRCU, evWCU      float64
	cpu, wall         time.Duration
	changed, launched int
	ops               string
}

// rawRead reads every bench pool's live records from the live index, not decoded,
// and returns how many there were.
func rawRead(b *testing.B, db store.DB, table string, pools int) int {
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range pools {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			in := &dynamodb.QueryInput{
				TableName: aws.String(table), IndexName: aws.String("live"),
				KeyConditionExpression:    aws.String("livePool = :p"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: fmt.Sprintf("bench/pool-%05d", i)}},
			}
			n := 0
			for {
				out, err := db.Query(ctx, in)
				if err != nil {
					b.Error(err)
					return
				}
				n += len(out.Items)
				if len(out.LastEvaluatedKey) == 0 {
					break
				}
				in.ExclusiveStartKey = out.LastEvaluatedKey
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	return total
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// writeHeapProfile writes the heap profile (its in-use figures are as of the
// last collection) to path, whole or not at all.
func writeHeapProfile(path string) {
	f, err := os.CreateTemp(filepath.Dir(path), ".heap-*")
	if err != nil {
		return
	}
	err = pprof.Lookup("heap").WriteTo(f, 0)
	if cerr := f.Close(); err == nil && cerr == nil {
		_ = os.Rename(f.Name(), path)
	} else {
		os.Remove(f.Name())
	}
}

// lambdaLimit is the memory limit the provisioner's default 1,024 MB gives Go (85 %).
const lambdaLimit = 1024 << 20 * 85 / 100

// goMemory is the memory the Go runtime holds, as its memory limit counts it.
func goMemory() uint64 {
	return readMetric("/memory/classes/total:bytes") - readMetric("/memory/classes/heap/released:bytes")
}

func heapBytes() uint64 { return readMetric("/memory/classes/heap/objects:bytes") }

// liveBytes is the heap the last collection found live (marked): unlike
// heapBytes, no garbage allocated since counts.
func liveBytes() uint64 { return readMetric("/gc/heap/live:bytes") }

func readMetric(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// startPeak samples read every few milliseconds until the returned function is
// called, which returns the largest sample. With a profile path, it writes the
// heap profile there whenever the sample passes the last written one by 2 %: the
// profile of (nearly) the peak's live objects.
func startPeak(read func() uint64, profile ...string) func() uint64 {
	var mu sync.Mutex
	peak := read()
	written := peak
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				h := read()
				mu.Lock()
				peak = max(peak, h)
				mu.Unlock()
				if len(profile) > 0 && h > written+written/50 {
					written = h
					writeHeapProfile(profile[0])
				}
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-exited
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

// unitsDB counts requests by operation and the read and write units DynamoDB
// reports for them (ReturnConsumedCapacity TOTAL: the table's and its indexes').
type unitsDB struct {
	store.DB
	mu       sync.Mutex
	ops      map[string]int
	rcu, wcu float64
}

func (u *unitsDB) reset() {
	u.mu.Lock()
	u.ops, u.rcu, u.wcu = map[string]int{}, 0, 0
	u.mu.Unlock()
}

func (u *unitsDB) totals() (int, float64, float64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, v := range u.ops {
		n += v
	}
	return n, u.rcu, u.wcu
}

func (u *unitsDB) opsSummary() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	names := make([]string, 0, len(u.ops))
	for k := range u.ops {
		names = append(names, k)
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%s %d", k, u.ops[k]))
	}
	return "last iteration: " + strings.Join(parts, ", ")
}

func (u *unitsDB) add(op string, ccs ...*types.ConsumedCapacity) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.ops == nil {
		u.ops = map[string]int{}
	}
	u.ops[op]++
	for _, cc := range ccs {
		if cc == nil {
			continue
		}
		if cc.ReadCapacityUnits != nil || cc.WriteCapacityUnits != nil {
			u.rcu += aws.ToFloat64(cc.ReadCapacityUnits)
			u.wcu += aws.ToFloat64(cc.WriteCapacityUnits)
		} else if cc.CapacityUnits != nil {
			if strings.HasPrefix(op, "Get") || op == "Query" || op == "Scan" {
				u.rcu += *cc.CapacityUnits
			} else {
				u.wcu += *cc.CapacityUnits
			}
		}
	}
}

var total = types.ReturnConsumedCapacityTotal

func (u *unitsDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := u.DB.GetItem(ctx, in, opts...)
	if err == nil {
		u.add("GetItem", out.ConsumedCapacity)
	} else {
		u.add("GetItem")
	}
	return out, err
}

func (u *unitsDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := u.DB.PutItem(ctx, in, opts...)
	if err == nil {
		u.add("PutItem", out.ConsumedCapacity)
	} else {
		u.add("PutItem")
	}
	return out, err
}

func (u *unitsDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := u.DB.UpdateItem(ctx, in, opts...)
	if err == nil {
		u.add("UpdateItem", out.ConsumedCapacity)
	} else {
		u.add("UpdateItem")
	}
	return out, err
}

func (u *unitsDB) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := u.DB.DeleteItem(ctx, in, opts...)
	if err == nil {
		u.add("DeleteItem", out.ConsumedCapacity)
	} else {
		u.add("DeleteItem")
	}
	return out, err
}

func (u *unitsDB) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := u.DB.Query(ctx, in, opts...)
	if err == nil {
		u.add("Query", out.ConsumedCapacity)
	} else {
		u.add("Query")
	}
	return out, err
}

func (u *unitsDB) Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := u.DB.Scan(ctx, in, opts...)
	if err == nil {
		u.add("Scan", out.ConsumedCapacity)
	} else {
		u.add("Scan")
	}
	return out, err
}

func (u *unitsDB) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := u.DB.BatchWriteItem(ctx, in, opts...)
	if err == nil {
		ccs := make([]*types.ConsumedCapacity, len(out.ConsumedCapacity))
		for i := range out.ConsumedCapacity {
			ccs[i] = &out.ConsumedCapacity[i]
		}
		u.add("BatchWriteItem", ccs...)
	} else {
		u.add("BatchWriteItem")
	}
	return out, err
}
