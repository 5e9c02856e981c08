package ec2_test

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/cloud/ec2"
	"github.com/workerfleet/workerfleet/shared/dev/cloudtest"
	"github.com/workerfleet/workerfleet/shared/dev/motoserver"
)

// One moto server for the package's tests, started by the first test that needs
// it and stopped by TestMain.
var moto struct {
	once sync.Once
	srv  *motoserver.Server
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if moto.srv != nil {
		moto.srv.Stop()
	}
	os.Exit(code)
}

// motoEndpoint returns the moto server's URL, skipping the test if moto_server is
// not installed.
func motoEndpoint(t *testing.T) string {
	t.Helper()
	moto.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		moto.srv, moto.err = motoserver.Start(ctx)
	})
	if errors.Is(moto.err, motoserver.ErrNotInstalled) {
		t.Skip("moto_server is not installed (pip install 'moto[server]'); the EC2 driver's emulator tests need it")
	}
	if moto.err != nil {
		t.Fatalf("start moto: %v", moto.err)
	}
	return moto.srv.Endpoint()
}

// callCounter counts SDK operations by name, through the SDK's middleware.
type callCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *callCounter) get(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[op]
}

func (c *callCounter) middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("countCalls",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			c.mu.Lock()
			if c.n == nil {
				c.n = map[string]int{}
			}
			c.n[awsmiddleware.GetOperationName(ctx)]++
			c.mu.Unlock()
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
}

// motoSet builds the driver against moto, counting its calls.
func motoSet(t *testing.T, endpoint string, id cloud.InstanceSetID, counter *callCounter, pageSize int) *ec2.InstanceSet {
	t.Helper()
	awsCfg := staticConfig()
	awsCfg.APIOptions = append(awsCfg.APIOptions, counter.middleware)
	set, err := ec2.New(context.Background(), ec2.Config{Regions: []string{"us-east-1", "us-west-2"}, Endpoint: endpoint, PageSize: pageSize}, id, ec2.WithAWSConfig(awsCfg))
	if err != nil {
		t.Fatalf("ec2.New: %v", err)
	}
	return set
}

// rawClient is an SDK client on moto, for what the tests do behind the driver's back.
func rawClient(endpoint string) *awsec2.Client {
	return awsec2.NewFromConfig(staticConfig(), func(o *awsec2.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

func TestContractOnMoto(t *testing.T) {
	endpoint := motoEndpoint(t)
	counter := &callCounter{}
	cloudtest.Run(t, cloudtest.Harness{
		Name: "the EC2 driver on moto",
		NewSet: func(t *testing.T, id cloud.InstanceSetID) cloud.InstanceSet {
			return motoSet(t, endpoint, id, counter, 5)
		},
		Region:       "us-east-1",
		InstanceType: "m5.large",
		ImageID:      "ami-0abcdef1234567890",
		Calls:        counter.get,
		Lacks: map[cloudtest.Capability]string{
			cloudtest.Idempotency:  "moto 5.2.1 stores ClientToken but launches again for a repeated token; the driver's part (sending ClientToken on every call) is checked by TestRunInstancesRequest",
			cloudtest.MarketPrices: "moto answers every spot price as 0.00001, the same in every AZ",
		},
	})
}

func TestMotoPagination(t *testing.T) {
	endpoint := motoEndpoint(t)
	counter := &callCounter{}
	set := motoSet(t, endpoint, "moto-pages", counter, 5)
	ctx := context.Background()
	var want []string
	for range 12 {
		got, err := set.Launch(ctx, cloud.LaunchRequest{Region: "us-east-1", InstanceType: "t3.micro", ImageID: "ami-1", Count: 1,
			Tags: map[string]string{cloud.TagPool: "paged"}})
		if err != nil {
			t.Fatalf("Launch: %v", err)
		}
		want = append(want, got[0].ID)
	}
	before := counter.get("DescribeInstances")
	listed, err := set.Instances(ctx, "us-east-1", map[string]string{cloud.TagPool: "paged"})
	if err != nil {
		t.Fatalf("Instances: %v", err)
	}
	var got []string
	for _, inst := range listed {
		got = append(got, inst.ID)
	}
	sort.Strings(got)
	sort.Strings(want)
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("instances over pages of 5 (-got +want):\n%s", diff)
	}
	if calls := counter.get("DescribeInstances") - before; calls != 3 {
		t.Errorf("listing 12 reservations in pages of 5 took %d DescribeInstances calls, want 3", calls)
	}
}

func TestMotoTerminateRefusesUntagged(t *testing.T) {
	endpoint := motoEndpoint(t)
	ctx := context.Background()
	raw := rawClient(endpoint)
	// Created behind the driver's back: one untagged, one tagged with another set's id.
	run := func(tags []types.Tag) string {
		in := &awsec2.RunInstancesInput{ImageId: aws.String("ami-1"), InstanceType: types.InstanceTypeT3Micro, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}
		if tags != nil {
			in.TagSpecifications = []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: tags}}
		}
		out, err := raw.RunInstances(ctx, in)
		if err != nil {
			t.Fatalf("RunInstances: %v", err)
		}
		return aws.ToString(out.Instances[0].InstanceId)
	}
	untagged := run(nil)
	foreign := run([]types.Tag{{Key: aws.String(cloud.TagInstanceSet), Value: aws.String("moto-someone-else")}})

	counter := &callCounter{}
	set := motoSet(t, endpoint, "moto-terminate", counter, 0)
	ours, err := set.Launch(ctx, cloud.LaunchRequest{Region: "us-east-1", InstanceType: "t3.micro", ImageID: "ami-1", Count: 1})
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	if err := set.Terminate(ctx, "us-east-1", []string{untagged, foreign, ours[0].ID}); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	out, err := raw.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{InstanceIds: []string{untagged, foreign, ours[0].ID}})
	if err != nil {
		t.Fatalf("DescribeInstances: %v", err)
	}
	states := map[string]string{}
	for _, r := range out.Reservations {
		for _, inst := range r.Instances {
			states[aws.ToString(inst.InstanceId)] = string(inst.State.Name)
		}
	}
	want := map[string]string{untagged: "running", foreign: "running", ours[0].ID: "terminated"}
	if diff := cmp.Diff(states, want); diff != "" {
		t.Errorf("states after Terminate(untagged, foreign, ours) (-got +want):\n%s", diff)
	}
	if got := counter.get("TerminateInstances"); got != 1 {
		t.Errorf("%d TerminateInstances calls, want 1", got)
	}
}

// TestMotoLaunchDetails checks, through the SDK behind the driver's back, what a
// spot launch created: its market, user data, and the tags of its volumes.
func TestMotoLaunchDetails(t *testing.T) {
	endpoint := motoEndpoint(t)
	ctx := context.Background()
	set := motoSet(t, endpoint, "moto-details", &callCounter{}, 0)
	userData := []byte("#!/bin/bash\necho hello from workerfleet\n")
	got, err := set.Launch(ctx, cloud.LaunchRequest{
		Region: "us-west-2", AvailabilityZone: "us-west-2c", InstanceType: "c5.large", ImageID: "ami-1", Count: 1,
		Spot: true, MaxPrice: 0.04, UserData: userData, ClientToken: "details-1",
		Tags:       map[string]string{cloud.TagPool: "details"},
		LaunchSpec: []byte(`{"BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 30, "VolumeType": "gp3"}}], "KeyName": "worker-key"}`),
	})
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	inst := got[0]
	if !inst.Spot || inst.Region != "us-west-2" || inst.AvailabilityZone != "us-west-2c" || inst.InstanceType != "c5.large" {
		t.Errorf("launched %+v, want a spot c5.large in us-west-2c", inst)
	}
	raw := rawClient(endpoint)
	west := func(o *awsec2.Options) { o.Region = "us-west-2" }

	attr, err := raw.DescribeInstanceAttribute(ctx, &awsec2.DescribeInstanceAttributeInput{
		InstanceId: aws.String(inst.ID), Attribute: types.InstanceAttributeNameUserData}, west)
	if err != nil {
		t.Fatalf("DescribeInstanceAttribute: %v", err)
	}
	if got := aws.ToString(attr.UserData.Value); got != base64.StdEncoding.EncodeToString(userData) {
		t.Errorf("user data %q, want base64 of %q", got, userData)
	}

	vols, err := raw.DescribeVolumes(ctx, &awsec2.DescribeVolumesInput{Filters: []types.Filter{
		{Name: aws.String("attachment.instance-id"), Values: []string{inst.ID}}}}, west)
	if err != nil {
		t.Fatalf("DescribeVolumes: %v", err)
	}
	if len(vols.Volumes) == 0 {
		t.Fatalf("the instance has no volumes")
	}
	for _, v := range vols.Volumes {
		tags := map[string]string{}
		for _, tag := range v.Tags {
			tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
		}
		want := map[string]string{cloud.TagInstanceSet: "moto-details", cloud.TagLaunch: "details-1", cloud.TagPool: "details"}
		if diff := cmp.Diff(tags, want); diff != "" {
			t.Errorf("volume %s tags (-got +want):\n%s", aws.ToString(v.VolumeId), diff)
		}
	}

	prices, err := set.SpotPrices(ctx, "us-west-2", []string{"c5.large", "m5.large"})
	if err != nil {
		t.Fatalf("SpotPrices: %v", err)
	}
	types := map[string]bool{}
	for _, p := range prices {
		types[p.InstanceType] = true
	}
	if !types["c5.large"] || !types["m5.large"] {
		t.Errorf("spot prices %+v, want c5.large and m5.large", prices)
	}
}
