package localstack

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/cloud/ec2"
	"github.com/workerfleet/workerfleet/shared/dev/fakecloud"
)

// motoFleet is what the instances the provisioner launched on moto (CLOUD=ec2)
// offer their simulated workers: the instance metadata service (user data and a
// signed identity document, served under /local/imds/) and the power button.
// moto sends no EC2 events and signs no identity documents, so the fleet polls
// DescribeInstances for the instance set's instances, reads user data with
// DescribeInstanceAttribute, signs documents with a key of its own that the stack's
// verifier trusts, and boots a worker on each instance once it has been running
// for the boot delay, as the fake cloud does.
type motoFleet struct {
	clients   map[string]*awsec2.Client // by region
	set       cloud.InstanceSetID
	signer    *fakecloud.IdentitySigner
	bootDelay time.Duration
	log       *slog.Logger

	mu    sync.Mutex
	known map[string]*motoInstance
}

type motoInstance struct {
	inst   cloud.Instance
	arch   string
	seen   time.Time // first seen running
	booted bool
}

func newMotoFleet(endpoint string, regions []string, set cloud.InstanceSetID, bootDelay time.Duration, log *slog.Logger) (*motoFleet, error) {
	signer, err := fakecloud.NewIdentitySigner()
	if err != nil {
		return nil, err
	}
	f := &motoFleet{clients: map[string]*awsec2.Client{}, set: set, signer: signer, bootDelay: bootDelay, log: log, known: map[string]*motoInstance{}}
	for _, r := range regions {
		f.clients[r] = awsec2.New(awsec2.Options{
			Region: r, BaseEndpoint: aws.String(endpoint),
			Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: "testing", SecretAccessKey: "testing"}, nil
			}),
		})
	}
	return f, nil
}

// Run polls moto every interval until ctx ends, calling boot once for each
// instance of the set that has been running for the boot delay.
func (f *motoFleet) Run(ctx context.Context, interval time.Duration, boot func(id string)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for _, id := range f.poll(ctx) {
			boot(id)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// poll refreshes the known instances and returns those due to boot, in launch order.
func (f *motoFleet) poll(ctx context.Context) []string {
	now := time.Now()
	var due []*motoInstance
	for region, c := range f.clients {
		p := awsec2.NewDescribeInstancesPaginator(c, &awsec2.DescribeInstancesInput{
			Filters: []types.Filter{{Name: aws.String("tag:" + cloud.TagInstanceSet), Values: []string{string(f.set)}}},
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				if ctx.Err() == nil {
					f.log.Warn("simulated workers: describe moto's instances", "region", region, "error", err.Error())
				}
				break
			}
			f.mu.Lock()
			for _, r := range page.Reservations {
				for _, i := range r.Instances {
					inst := ec2.FromEC2(region, aws.ToString(r.OwnerId), i)
					k := f.known[inst.ID]
					if k == nil {
						k = &motoInstance{arch: string(i.Architecture)}
						f.known[inst.ID] = k
					}
					k.inst = inst
					if inst.State == cloud.StateRunning && k.seen.IsZero() {
						k.seen = now
					}
					if !k.booted && !k.seen.IsZero() && now.Sub(k.seen) >= f.bootDelay && inst.State == cloud.StateRunning {
						k.booted = true
						due = append(due, k)
					}
				}
			}
			f.mu.Unlock()
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].inst.LaunchTime.Before(due[j].inst.LaunchTime) })
	ids := make([]string, len(due))
	for i, k := range due {
		ids[i] = k.inst.ID
	}
	return ids
}

func (f *motoFleet) instance(id string) (motoInstance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.known[id]
	if !ok {
		return motoInstance{}, fmt.Errorf("instance %s: %w", id, fakecloud.ErrNotFound)
	}
	return *k, nil
}

// UserData is the instance's user data, from moto.
func (f *motoFleet) UserData(id string) ([]byte, error) {
	k, err := f.instance(id)
	if err != nil {
		return nil, err
	}
	out, err := f.clients[k.inst.Region].DescribeInstanceAttribute(context.Background(), &awsec2.DescribeInstanceAttributeInput{
		InstanceId: aws.String(id), Attribute: types.InstanceAttributeNameUserData,
	})
	if err != nil {
		return nil, fmt.Errorf("user data of %s: %w", id, err)
	}
	if out.UserData == nil || out.UserData.Value == nil {
		return nil, nil
	}
	return base64.StdEncoding.DecodeString(aws.ToString(out.UserData.Value))
}

// IdentityDocument is the instance's identity document, signed by the fleet's key.
func (f *motoFleet) IdentityDocument(id string) ([]byte, string, error) {
	k, err := f.instance(id)
	if err != nil {
		return nil, "", err
	}
	arch := k.arch
	if arch == "" {
		arch = "x86_64"
	}
	return f.signer.Document(k.inst.AccountID, arch, k.inst)
}

// State is the instance's EC2 state at the last poll ("" if unknown).
func (f *motoFleet) State(id string) string {
	k, err := f.instance(id)
	if err != nil {
		return ""
	}
	return k.inst.State
}

// Shutdown is the instance shutting itself down (instance-initiated shutdown
// behaviour terminate, as workerfleet's workers run).
func (f *motoFleet) Shutdown(id string) error {
	k, err := f.instance(id)
	if err != nil {
		return err
	}
	if _, err := f.clients[k.inst.Region].TerminateInstances(context.Background(), &awsec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		return fmt.Errorf("shut %s down: %w", id, err)
	}
	f.mu.Lock()
	if k := f.known[id]; k != nil {
		k.inst.State = cloud.StateShuttingDown
	}
	f.mu.Unlock()
	return nil
}

// serveIMDS (the moto instances' metadata; the fake cloud's is metadataService) answers /local/imds/<instanceId>/latest/... as EC2's instance metadata
// service does for that instance: dynamic/instance-identity/document and .../signature
// (text), and user-data (the raw bytes); an unknown instance is a 404.
func serveIMDS(c Machines) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/local/imds/"), "/")
		if r.Method != "GET" || id == "" {
			http.NotFound(w, r)
			return
		}
		var body []byte
		var err error
		switch rest {
		case "latest/dynamic/instance-identity/document":
			body, _, err = c.IdentityDocument(id)
		case "latest/dynamic/instance-identity/signature":
			var sig string
			_, sig, err = c.IdentityDocument(id)
			body = []byte(sig)
		case "latest/user-data":
			body, err = c.UserData(id)
		default:
			http.NotFound(w, r)
			return
		}
		if errors.Is(err, fakecloud.ErrNotFound) {
			http.NotFound(w, r)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	}
}
