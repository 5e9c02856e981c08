package statuspage

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/workerfleet/workerfleet/shared/store"
)

// Instance is one live worker of a pool as the pool's page lists it.
type Instance struct {
	WorkerID     string `json:"workerId"`
	InstanceType string `json:"instanceType,omitempty"`
	// Zone is the availability zone, or the region when the zone is not known yet.
	Zone  string  `json:"zone,omitempty"`
	Spot  bool    `json:"spot"`
	Price float64 `json:"pricePerHour"` // as launched; 0 when the cloud gave none
	State string  `json:"state"`
	// Capacity is the worker's capacity units.
	Capacity float64   `json:"capacity"`
	Created  time.Time `json:"created"`
	// RegistrationDeadline is when a requested worker must have registered by.
	RegistrationDeadline *time.Time `json:"registrationDeadline,omitempty"`
	// PastRegistrationTimeout flags a worker still requested after its deadline: the
	// provisioner should have terminated it (look at its errors and its log).
	PastRegistrationTimeout bool `json:"pastRegistrationTimeout"`
}

// ErrorInfo is a pool's most recent error, and how many it has had.
type ErrorInfo struct {
	Title       string    `json:"title"`
	Description string    `json:"description"`
	Time        time.Time `json:"time"`
	// Count is how many errors of the pool are kept (ErrorRetentionDays), at most
	// errorsRead; CountAtLeast says there may be more.
	Count        int  `json:"count"`
	CountAtLeast bool `json:"countAtLeast,omitempty"`
}

// PoolError is one of a pool's errors on its page.
type PoolError struct {
	Time        time.Time `json:"time"`
	Kind        string    `json:"kind"`
	Title       string    `json:"title"`
	Description string    `json:"description"`
}

// errorsRead bounds the errors read per pool (the count says "at least" above it).
const errorsRead = 100

// liveIndex is the workers table's sparse index of live records, keyed by
// livePool (store's, which the template defines; a template test holds it).
const liveIndex = "live"

// liveWorkers reads a pool's live workers with everything the page shows (the
// store's LiveWorkers decodes only what the provisioner reads, without type and
// price): one query of the live index, paged.
func liveWorkers(ctx context.Context, st *store.Store, pool string) ([]store.Worker, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(st.Tables().Workers),
		IndexName:                 aws.String(liveIndex),
		KeyConditionExpression:    aws.String("#lp = :p"),
		ExpressionAttributeNames:  map[string]string{"#lp": "livePool"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: pool}},
	}
	var out []store.Worker
	for {
		page, err := st.DB().Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("live workers of %s: %w", pool, err)
		}
		var ws []store.Worker
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &ws); err != nil {
			return nil, fmt.Errorf("live workers of %s: %w", pool, err)
		}
		now := st.Now()
		for _, w := range ws {
			if w.State.Alive() || w.State == store.Stopping {
				if w.Expires.IsZero() || w.Expires.After(now) { // TTL deletes late
					out = append(out, w)
				}
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// instancesOf is the page's view of the workers, oldest first.
func instancesOf(ws []store.Worker, now time.Time) []Instance {
	out := make([]Instance, 0, len(ws))
	for _, w := range ws {
		in := Instance{WorkerID: w.WorkerID, InstanceType: w.InstanceType, Zone: w.AvailabilityZone, Spot: w.Spot, Price: w.Price,
			State: string(w.State), Capacity: w.Capacity, Created: w.Created}
		if in.Zone == "" {
			in.Zone = w.Region
		}
		if w.State == store.Requested && !w.RegistrationDeadline.IsZero() {
			d := w.RegistrationDeadline
			in.RegistrationDeadline = &d
			in.PastRegistrationTimeout = now.After(d)
		}
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].WorkerID < out[j].WorkerID
	})
	return out
}

// errorsOf reads a pool's kept errors, newest first, at most errorsRead.
func errorsOf(ctx context.Context, st *store.Store, pool string) ([]store.PoolError, bool, error) {
	errs, next, err := st.ListErrors(ctx, pool, store.Page{Limit: errorsRead})
	if err != nil {
		return nil, false, fmt.Errorf("errors of %s: %w", pool, err)
	}
	return errs, next != "", nil
}

// pendingSince is when the pool's pending tasks last rose from none, by its
// history: the start of the last stretch of samples with pending tasks. atLeast
// says the stretch reaches back to the history's first sample (it may be older).
func pendingSince(h []store.PoolSample) (since time.Time, atLeast, ok bool) {
	i := len(h) - 1
	if i < 0 || h[i].Pending == 0 {
		return time.Time{}, false, false
	}
	for i > 0 && h[i-1].Pending > 0 {
		i--
	}
	return h[i].Time, i == 0, true
}
