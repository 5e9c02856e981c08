package store_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/dev/storetest"
	"github.com/workerfleet/workerfleet/shared/store"
)

// A pool's history survives the round trip through DynamoDB (to the second), and
// PoolStatuses lists every pool's figures.
func TestPoolStatusesAndHistory(t *testing.T) {
	clk := newClock()
	s := storetest.New(t, store.WithClock(clk.Now))
	var h store.PoolHistory
	for i := range store.PoolHistoryLength {
		h = append(h, store.PoolSample{Time: clk.Now().Add(time.Duration(i*61) * time.Second), Running: float64(i % 5), Requested: 0.5, Pending: int64(100 + i)})
	}
	in := []store.PoolStatus{
		{Pool: "proj/a", Updated: clk.Now(), MinCapacity: 1, MaxCapacity: 8, Interrupted: 2, History: h},
		{Pool: "proj/b", Updated: clk.Now()},
	}
	if err := s.PutPoolStatuses(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	got, err := s.PoolStatuses(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Pool != "proj/a" || got[1].Pool != "proj/b" || len(got[1].History) != 0 {
		t.Fatalf("PoolStatuses = %+v", got)
	}
	if diff := cmp.Diff([]store.PoolSample(h), []store.PoolSample(got[0].History)); diff != "" {
		t.Errorf("history after the round trip (-put +got):\n%s", diff)
	}
	if a := got[0]; a.MinCapacity != 1 || a.MaxCapacity != 8 || a.Interrupted != 2 {
		t.Errorf("bounds %+v", a)
	}

	// Compact: a full history is about a kilobyte, not three.
	av, err := attributevalue.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(av.(*types.AttributeValueMemberS).Value); n > 1024 {
		t.Errorf("a full history takes %d bytes", n)
	}
	var bad store.PoolHistory
	if err := attributevalue.Unmarshal(&types.AttributeValueMemberS{Value: "1:2:3"}, &bad); err == nil {
		t.Error("a malformed history was read")
	}
}
