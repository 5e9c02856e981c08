package fakecloud_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/dev/cloudtest"
	"github.com/workerfleet/workerfleet/shared/dev/fakecloud"
)

func TestIdentityDocument(t *testing.T) {
	c, _ := newCloud(t, nil)
	set := c.InstanceSet("set-1")
	inst := launchOne(t, set, func(r *cloud.LaunchRequest) {
		r.InstanceType = "m6g.large"
		r.UserData = []byte("#!/bin/sh\necho hello\x00\xff")
	})

	doc, sig, err := c.IdentityDocument(inst.ID)
	if err != nil {
		t.Fatalf("IdentityDocument: %v", err)
	}
	var fields map[string]any
	if err := json.Unmarshal(doc, &fields); err != nil {
		t.Fatalf("document %s is not JSON: %v", doc, err)
	}
	want := map[string]any{
		"accountId":               "123456789012",
		"architecture":            "arm64",
		"availabilityZone":        inst.AvailabilityZone,
		"billingProducts":         nil,
		"devpayProductCodes":      nil,
		"marketplaceProductCodes": nil,
		"imageId":                 "ami-0abc",
		"instanceId":              inst.ID,
		"instanceType":            "m6g.large",
		"kernelId":                nil,
		"pendingTime":             "2024-05-01T12:00:00Z",
		"privateIp":               inst.PrivateIP,
		"ramdiskId":               nil,
		"region":                  "us-east-1",
		"version":                 "2017-09-30",
	}
	if diff := cmp.Diff(fields, want); diff != "" {
		t.Errorf("identity document (-got +want):\n%s", diff)
	}
	if !strings.HasPrefix(string(doc), "{\n  \"accountId\" : \"123456789012\",\n  \"architecture\" : \"arm64\",") {
		t.Errorf("document is not laid out as EC2's:\n%s", doc)
	}

	block, _ := pem.Decode(c.CertificatePEM())
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("CertificatePEM is not a PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		t.Errorf("certificate is not self-signed: %v", err)
	}
	pub := cert.PublicKey.(*rsa.PublicKey)
	verify := func(doc []byte, sig string) error {
		raw, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(doc)
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], raw)
	}
	if err := verify(doc, sig); err != nil {
		t.Errorf("signature does not verify with the certificate's key: %v", err)
	}
	tampered := []byte(strings.Replace(string(doc), inst.ID, "i-0ffffffffffffffff", 1))
	if err := verify(tampered, sig); err == nil {
		t.Errorf("signature verifies a tampered document")
	}

	ud, err := c.UserData(inst.ID)
	if err != nil || string(ud) != "#!/bin/sh\necho hello\x00\xff" {
		t.Errorf("UserData = %q, %v; want the launch's raw bytes", ud, err)
	}
	if _, _, err := c.IdentityDocument("i-0000000000000000"); !errors.Is(err, fakecloud.ErrNotFound) {
		t.Errorf("IdentityDocument(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := c.UserData("i-0000000000000000"); !errors.Is(err, fakecloud.ErrNotFound) {
		t.Errorf("UserData(unknown) = %v, want ErrNotFound", err)
	}
}

func TestIdentityKeySupplied(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, build := range map[string]func() (*fakecloud.Cloud, error){
		"option": func() (*fakecloud.Cloud, error) {
			return fakecloud.New(fakecloud.DefaultConfig(), fakecloud.WithIdentityKey(key))
		},
		"pkcs1 pem": func() (*fakecloud.Cloud, error) {
			cfg := fakecloud.DefaultConfig()
			cfg.IdentityKeyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
			return fakecloud.New(cfg)
		},
		"pkcs8 pem": func() (*fakecloud.Cloud, error) {
			cfg := fakecloud.DefaultConfig()
			cfg.IdentityKeyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
			return fakecloud.New(cfg)
		},
	} {
		c, err := build()
		if err != nil {
			t.Fatalf("%s: New: %v", name, err)
		}
		block, _ := pem.Decode(c.CertificatePEM())
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatalf("%s: parse certificate: %v", name, err)
		}
		if !key.PublicKey.Equal(cert.PublicKey) {
			t.Errorf("%s: certificate holds another key than the supplied one", name)
		}
	}
	cfg := fakecloud.DefaultConfig()
	cfg.IdentityKeyPEM = "not a key"
	if _, err := fakecloud.New(cfg); err == nil {
		t.Errorf("New with a bad identityKeyPEM succeeded")
	}
}

// TestInjectedErrorsClassifiedLikeEC2 injects every code of the table the EC2
// driver's tests serve over HTTP, and expects the same classes.
func TestInjectedErrorsClassifiedLikeEC2(t *testing.T) {
	c, _ := newCloud(t, nil)
	set := c.InstanceSet("set-1")
	for _, tc := range cloudtest.ErrorCases {
		t.Run(tc.Code, func(t *testing.T) {
			c.FailNextLaunch(tc.Code)
			_, err := set.Launch(context.Background(), cloud.LaunchRequest{
				Region: "us-east-1", InstanceType: "m5.large", ImageID: "ami-1", Count: 1,
			})
			if err == nil {
				t.Fatalf("Launch succeeded, want %s", tc.Code)
			}
			if diff := cmp.Diff(cloudtest.ClassOf(err), tc.Expected()); diff != "" {
				t.Errorf("class of injected %s (-got +want):\n%s", tc.Code, diff)
			}
		})
	}
	if got := len(c.AllInstances()); got != 0 {
		t.Errorf("failed launches left %d instances", got)
	}
	// The queue is per action and consumed in order.
	c.FailNext("DescribeInstances", "RequestLimitExceeded")
	c.FailNext("DescribeInstances", "InternalError")
	for _, want := range []string{"RequestLimitExceeded", "InternalError", ""} {
		_, err := set.Instances(context.Background(), "us-east-1", nil)
		if got := cloud.ErrorCode(err); got != want {
			t.Errorf("Instances error code %q, want %q", got, want)
		}
	}
}

func TestSimulatedFailures(t *testing.T) {
	ctx := context.Background()
	req := func(change func(*cloud.LaunchRequest)) cloud.LaunchRequest {
		r := cloud.LaunchRequest{Region: "us-east-1", InstanceType: "p3.2xlarge", ImageID: "ami-1", Count: 1}
		if change != nil {
			change(&r)
		}
		return r
	}
	t.Run("error rates", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			cfg      func(*fakecloud.Config)
			wantCode string
		}{
			{"capacity", func(c *fakecloud.Config) { c.CapacityErrorRate = 1 }, "InsufficientInstanceCapacity"},
			{"quota", func(c *fakecloud.Config) { c.QuotaErrorRate = 1 }, "VcpuLimitExceeded"},
			{"rate limit", func(c *fakecloud.Config) { c.RateLimitErrorRate = 1 }, "RequestLimitExceeded"},
		} {
			c, _ := newCloud(t, tc.cfg)
			_, err := c.InstanceSet("s").Launch(ctx, req(nil))
			if got := cloud.ErrorCode(err); got != tc.wantCode {
				t.Errorf("%s: Launch error %v, want code %s", tc.name, err, tc.wantCode)
			}
			if err := c.SetErrorRates(0, 0, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := c.InstanceSet("s").Launch(ctx, req(nil)); err != nil {
				t.Errorf("%s: Launch after the rates went to 0: %v", tc.name, err)
			}
		}
		c, _ := newCloud(t, func(c *fakecloud.Config) { c.RateLimitErrorRate = 1 })
		_, err := c.InstanceSet("s").SpotPrices(ctx, "us-east-1", []string{"m5.large"})
		if !cloud.IsRateLimitError(err) {
			t.Errorf("SpotPrices at rate-limit rate 1 = %v, want a RateLimitError", err)
		}
	})

	t.Run("capacity limits", func(t *testing.T) {
		c, _ := newCloud(t, func(cfg *fakecloud.Config) {
			cfg.Capacity = map[string]int{"us-east-1a/p3.2xlarge": 2, "us-east-1b/p3.2xlarge": 0}
		})
		set := c.InstanceSet("s")
		inA := func(r *cloud.LaunchRequest) { r.AvailabilityZone = "us-east-1a" }
		if _, err := set.Launch(ctx, req(func(r *cloud.LaunchRequest) { inA(r); r.Count = 3 })); !cloud.IsCapacityError(err) || !cloud.IsAvailabilityZoneSpecific(err) {
			t.Errorf("3 in an AZ holding 2 = %v, want an AZ-specific CapacityError", err)
		}
		if _, err := set.Launch(ctx, req(func(r *cloud.LaunchRequest) { inA(r); r.Count = 2 })); err != nil {
			t.Errorf("2 in an AZ holding 2: %v", err)
		}
		if _, err := set.Launch(ctx, req(inA)); !cloud.IsCapacityError(err) {
			t.Errorf("a third in an AZ holding 2 = %v, want a CapacityError", err)
		}
		// Without an AZ the cloud picks the only one with room.
		for range 5 {
			got, err := set.Launch(ctx, req(nil))
			if err != nil || got[0].AvailabilityZone != "us-east-1c" {
				t.Fatalf("Launch without an AZ = %+v, %v; want it in us-east-1c", got, err)
			}
		}
		if err := c.SetCapacity("us-east-1c", "p3.2xlarge", 5); err != nil {
			t.Fatal(err)
		}
		if _, err := set.Launch(ctx, req(nil)); !cloud.IsCapacityError(err) || !cloud.IsInstanceTypeSpecific(err) {
			t.Errorf("Launch with every AZ full = %v, want a type-specific CapacityError", err)
		}
		if _, err := set.Launch(ctx, req(func(r *cloud.LaunchRequest) { r.InstanceType = "m5.large" })); err != nil {
			t.Errorf("another type with every AZ full of p3: %v", err)
		}
		if err := c.SetCapacity("us-east-1c", "p3.2xlarge", -1); err != nil {
			t.Fatal(err)
		}
		if _, err := set.Launch(ctx, req(nil)); err != nil {
			t.Errorf("Launch once the limit is removed: %v", err)
		}
		if err := c.SetCapacity("us-east-1z", "p3.2xlarge", 1); err == nil {
			t.Errorf("SetCapacity of an unknown AZ succeeded")
		}
	})

	t.Run("instance quota", func(t *testing.T) {
		c, clock := newCloud(t, func(cfg *fakecloud.Config) { cfg.InstanceQuota = 3 })
		set := c.InstanceSet("s")
		first, err := set.Launch(ctx, req(func(r *cloud.LaunchRequest) { r.Count = 2 }))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := set.Launch(ctx, req(func(r *cloud.LaunchRequest) { r.Count = 2 })); !cloud.IsQuotaError(err) || cloud.ErrorCode(err) != "InstanceLimitExceeded" {
			t.Errorf("2 more past a quota of 3 = %v, want InstanceLimitExceeded", err)
		}
		if _, err := c.InstanceSet("other").Launch(ctx, req(func(r *cloud.LaunchRequest) { r.Count = 2 })); !cloud.IsQuotaError(err) {
			t.Errorf("the quota is the account's, another set's launch = %v, want a QuotaError", err)
		}
		if _, err := set.Launch(ctx, req(func(r *cloud.LaunchRequest) { r.Region = "us-west-2"; r.Count = 3 })); err != nil {
			t.Errorf("the quota is per region, us-west-2: %v", err)
		}
		if err := set.Terminate(ctx, "us-east-1", []string{first[0].ID}); err != nil {
			t.Fatal(err)
		}
		if _, err := set.Launch(ctx, req(func(r *cloud.LaunchRequest) { r.Count = 2 })); !cloud.IsQuotaError(err) {
			t.Errorf("shutting-down instances still count; Launch = %v, want a QuotaError", err)
		}
		clock.Advance(time.Minute)
		c.Step()
		if _, err := set.Launch(ctx, req(func(r *cloud.LaunchRequest) { r.Count = 2 })); err != nil {
			t.Errorf("after the termination, Launch: %v", err)
		}
	})

	t.Run("spot max price", func(t *testing.T) {
		c, _ := newCloud(t, nil)
		set := c.InstanceSet("s")
		for _, az := range []string{"us-east-1a", "us-east-1b", "us-east-1c"} {
			if err := c.SetSpotPrice(az, "p3.2xlarge", 1.0); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.SetSpotPrice("us-east-1b", "p3.2xlarge", 0.9); err != nil {
			t.Fatal(err)
		}
		_, err := set.Launch(ctx, req(func(r *cloud.LaunchRequest) { r.Spot, r.MaxPrice = true, 0.5 }))
		if !cloud.IsPriceError(err) || cloud.IsCapacityError(err) {
			t.Errorf("max price under every AZ's price = %v, want a PriceError", err)
		}
		got, err := set.Launch(ctx, req(func(r *cloud.LaunchRequest) { r.Spot, r.MaxPrice = true, 0.95 }))
		if err != nil || got[0].AvailabilityZone != "us-east-1b" {
			t.Errorf("max price over one AZ's price = %+v, %v; want it in that AZ", got, err)
		}
	})

	t.Run("launch spec", func(t *testing.T) {
		c, _ := newCloud(t, nil)
		set := c.InstanceSet("s")
		var subnetB string
		for id, az := range c.Subnets("us-east-1") {
			if az == "us-east-1b" {
				subnetB = id
			}
		}
		got, err := set.Launch(ctx, req(func(r *cloud.LaunchRequest) {
			r.LaunchSpec = json.RawMessage(fmt.Sprintf(`{"SubnetId": %q, "SecurityGroupIds": ["sg-1"]}`, subnetB))
		}))
		if err != nil || got[0].AvailabilityZone != "us-east-1b" {
			t.Errorf("launch in subnet %s = %+v, %v; want it in us-east-1b", subnetB, got, err)
		}
		got, err = set.Launch(ctx, req(func(r *cloud.LaunchRequest) {
			r.LaunchSpec = json.RawMessage(`{"Placement": {"AvailabilityZone": "us-east-1c"}}`)
		}))
		if err != nil || got[0].AvailabilityZone != "us-east-1c" {
			t.Errorf("launch with a Placement = %+v, %v; want it in us-east-1c", got, err)
		}
		for _, tc := range []struct {
			name, spec string
			change     func(*cloud.LaunchRequest)
			code       string
		}{
			{"unknown subnet", `{"SubnetId": "subnet-0nothere"}`, nil, "InvalidSubnetID.NotFound"},
			{"subnet in another AZ", fmt.Sprintf(`{"SubnetId": %q}`, subnetB), func(r *cloud.LaunchRequest) { r.AvailabilityZone = "us-east-1a" }, "InvalidParameterCombination"},
			{"unknown AZ", `{}`, func(r *cloud.LaunchRequest) { r.AvailabilityZone = "us-east-1q" }, "InvalidParameterValue"},
			{"malformed image", `{}`, func(r *cloud.LaunchRequest) { r.ImageID = "img-1" }, "InvalidAMIID.Malformed"},
			{"unknown type", `{}`, func(r *cloud.LaunchRequest) { r.InstanceType = "zz9.huge" }, "InvalidParameterValue"},
		} {
			_, err := set.Launch(ctx, req(func(r *cloud.LaunchRequest) {
				r.LaunchSpec = json.RawMessage(tc.spec)
				if tc.change != nil {
					tc.change(r)
				}
			}))
			if !cloud.IsConfigError(err) || cloud.ErrorCode(err) != tc.code {
				t.Errorf("%s: Launch = %v, want the ConfigError %s", tc.name, err, tc.code)
			}
		}
	})
}

func TestClientTokenIdempotency(t *testing.T) {
	c, clock := newCloud(t, func(cfg *fakecloud.Config) { cfg.TerminatedRetention = fakecloud.Duration(10 * time.Minute) })
	set := c.InstanceSet("s")
	ctx := context.Background()
	req := cloud.LaunchRequest{Region: "us-east-1", InstanceType: "t3.micro", ImageID: "ami-1", Count: 2, ClientToken: "token-1"}
	first, err := set.Launch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for _, inst := range first {
		if inst.Tags[cloud.TagLaunch] != "token-1" {
			t.Errorf("%s has launch tag %q, want token-1", inst.ID, inst.Tags[cloud.TagLaunch])
		}
	}
	// The same token in another region is another launch.
	other := req
	other.Region = "us-west-2"
	if got, err := set.Launch(ctx, other); err != nil || len(got) != 2 || got[0].ID == first[0].ID {
		t.Errorf("same token in another region = %+v, %v; want two new instances", got, err)
	}
	if err := set.Terminate(ctx, "us-east-1", []string{first[0].ID, first[1].ID}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	c.Step()
	replay, err := set.Launch(ctx, req)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	var states []string
	for _, inst := range replay {
		states = append(states, inst.State)
	}
	if diff := cmp.Diff(states, []string{"terminated", "terminated"}); diff != "" {
		t.Errorf("a replay returns the instances as they are now (-got +want):\n%s", diff)
	}
	if got := len(c.AllInstances()); got != 4 {
		t.Errorf("%d instances after a replay, want 4", got)
	}
	// Once its instances are no longer listed, the token is forgotten too.
	clock.Advance(10 * time.Minute)
	c.Step()
	again, err := set.Launch(ctx, req)
	if err != nil || len(again) != 2 || again[0].ID == first[0].ID || again[0].State != cloud.StatePending {
		t.Errorf("launch with a forgotten token = %+v, %v; want two new pending instances", again, err)
	}
}

// scenario drives a cloud through launches with injected failures, steps,
// terminations and prices, and returns everything observable.
func scenario(t *testing.T, seed int64) (ids, errs []string, prices []cloud.Price, evs []json.RawMessage) {
	rec := &recorder{}
	c, clock := newCloud(t, func(cfg *fakecloud.Config) {
		cfg.Seed = seed
		cfg.CapacityErrorRate, cfg.QuotaErrorRate, cfg.RateLimitErrorRate = 0.2, 0.1, 0.1
		cfg.SpotInterruptionRate = 1
	}, fakecloud.WithEventSink(rec.sink))
	set := c.InstanceSet("s")
	ctx := context.Background()
	for i := range 40 {
		got, err := set.Launch(ctx, cloud.LaunchRequest{
			Region: "us-east-1", InstanceType: "c5.large", ImageID: "ami-1", Count: 1 + i%3, Spot: i%2 == 0,
			Tags: map[string]string{cloud.TagPool: fmt.Sprintf("pool-%d", i%4)},
		})
		errs = append(errs, cloud.ErrorCode(err))
		if len(got) > 0 && i%5 == 0 {
			errs = append(errs, cloud.ErrorCode(set.Terminate(ctx, "us-east-1", []string{got[0].ID})))
		}
		clock.Advance(7 * time.Minute)
		c.Step()
	}
	for _, inst := range c.AllInstances() {
		ids = append(ids, inst.ID+" "+inst.AvailabilityZone+" "+inst.State+" "+inst.PrivateIP)
	}
	for range 5 { // prices, until a rate-limit injection lets them through
		p, err := set.SpotPrices(ctx, "us-east-1", []string{"c5.large", "m5.large"})
		if err == nil {
			prices = p
			break
		}
	}
	return ids, errs, prices, rec.take()
}

func TestDeterminism(t *testing.T) {
	ids1, errs1, prices1, evs1 := scenario(t, 7)
	ids2, errs2, prices2, evs2 := scenario(t, 7)
	if diff := cmp.Diff(ids1, ids2); diff != "" {
		t.Errorf("same seed, instances differ (-first +second):\n%s", diff)
	}
	if diff := cmp.Diff(errs1, errs2); diff != "" {
		t.Errorf("same seed, injected failures differ (-first +second):\n%s", diff)
	}
	if diff := cmp.Diff(prices1, prices2); diff != "" {
		t.Errorf("same seed, prices differ (-first +second):\n%s", diff)
	}
	if len(evs1) != len(evs2) {
		t.Fatalf("same seed, %d and %d events", len(evs1), len(evs2))
	}
	for i := range evs1 {
		if string(evs1[i]) != string(evs2[i]) {
			t.Fatalf("same seed, event %d differs:\n%s\n%s", i, evs1[i], evs2[i])
		}
	}
	// The scenario exercises what it claims to.
	kinds := map[string]bool{}
	for _, e := range errs1 {
		kinds[e] = true
	}
	for _, code := range []string{"", "InsufficientInstanceCapacity", "VcpuLimitExceeded", "RequestLimitExceeded"} {
		if !kinds[code] {
			t.Errorf("the scenario never saw %q; errors %v", code, errs1)
		}
	}
	interrupted := false
	for _, e := range evs1 {
		interrupted = interrupted || strings.Contains(string(e), "Interruption Warning")
	}
	if !interrupted {
		t.Errorf("the scenario saw no spot interruption")
	}

	ids3, errs3, prices3, _ := scenario(t, 8)
	if cmp.Equal(ids1, ids3) || cmp.Equal(errs1, errs3) || cmp.Equal(prices1, prices3) {
		t.Errorf("seeds 7 and 8 gave the same instances, failures or prices")
	}
}

func TestSpotPricesWalk(t *testing.T) {
	c, clock := newCloud(t, func(cfg *fakecloud.Config) { cfg.PriceVolatility = 0.05 })
	set := c.InstanceSet("s")
	ctx := context.Background()
	types := []string{"m5.large", "p3.2xlarge", "t3.micro"}
	start, err := set.SpotPrices(ctx, "eu-central-1", types)
	if err != nil {
		t.Fatal(err)
	}
	if len(start) != 9 {
		t.Fatalf("%d prices for 3 types in 3 AZs, want 9", len(start))
	}
	for range 500 {
		clock.Advance(time.Minute)
		c.Step()
	}
	end, err := set.SpotPrices(ctx, "eu-central-1", types)
	if err != nil {
		t.Fatal(err)
	}
	changed := 0
	for i, p := range end {
		od, _ := set.OnDemandPrice("eu-central-1", p.InstanceType)
		if p.Price <= 0 || p.Price > od {
			t.Errorf("price %+v outside (0, on-demand %v]", p, od)
		}
		// Mean-reverting: after 500 steps it stays within a factor 2 of where it began.
		if p.Price > 2*start[i].Price || p.Price < start[i].Price/2 {
			t.Errorf("price %+v wandered from %v", p, start[i].Price)
		}
		if p.Price != start[i].Price {
			changed++
			if !p.Time.After(start[i].Time) {
				t.Errorf("price %+v changed without a newer time", p)
			}
		}
	}
	if changed == 0 {
		t.Errorf("no price moved in 500 steps")
	}
	if usEast, _ := set.OnDemandPrice("us-east-1", "m5.large"); usEast != 0.096 {
		t.Errorf("on-demand m5.large in us-east-1 = %v, want 0.096", usEast)
	}
	if euc, _ := set.OnDemandPrice("eu-central-1", "m5.large"); euc <= 0.096 {
		t.Errorf("on-demand m5.large in eu-central-1 = %v, want dearer than us-east-1", euc)
	}

	still, clock2 := newCloud(t, func(cfg *fakecloud.Config) { cfg.PriceVolatility = 0 })
	before, _ := still.InstanceSet("s").SpotPrices(ctx, "us-east-1", types)
	clock2.Advance(time.Hour)
	still.Step()
	after, _ := still.InstanceSet("s").SpotPrices(ctx, "us-east-1", types)
	if diff := cmp.Diff(after, before); diff != "" {
		t.Errorf("prices moved at volatility 0 (-after +before):\n%s", diff)
	}
	if err := still.SetSpotPrice("us-east-1a", "t3.micro", 0.0042); err != nil {
		t.Fatal(err)
	}
	got, _ := still.InstanceSet("s").SpotPrices(ctx, "us-east-1", []string{"t3.micro"})
	if got[0].AvailabilityZone != "us-east-1a" || got[0].Price != 0.0042 || !got[0].Time.Equal(clock2.Now()) {
		t.Errorf("after SetSpotPrice: %+v, want 0.0042 in us-east-1a now", got[0])
	}
	for _, bad := range []struct {
		az, typ string
		price   float64
	}{{"us-east-1a", "t3.micro", 0}, {"us-east-1q", "t3.micro", 1}, {"us-east-1a", "zz9.huge", 1}} {
		if err := still.SetSpotPrice(bad.az, bad.typ, bad.price); err == nil {
			t.Errorf("SetSpotPrice(%v) succeeded", bad)
		}
	}
}

func TestConfig(t *testing.T) {
	cfg, err := fakecloud.ParseConfig(json.RawMessage(`{"bootDelay": "1m", "seed": 9, "regions": ["us-east-1"],
		"instanceTypes": {"m5.large": 0.1, "c7g.large": 0.07}, "capacity": {"us-east-1a/m5.large": 4}}`))
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	if time.Duration(cfg.BootDelay) != time.Minute || time.Duration(cfg.ShutdownDelay) != 5*time.Second || cfg.Seed != 9 {
		t.Errorf("ParseConfig = %+v, want bootDelay 1m over the default shutdownDelay 5s, seed 9", cfg)
	}
	c, err := fakecloud.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if diff := cmp.Diff(c.Regions(), []string{"us-east-1"}); diff != "" {
		t.Errorf("Regions (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(c.InstanceTypes(), []string{"c7g.large", "m5.large"}); diff != "" {
		t.Errorf("InstanceTypes (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(c.AvailabilityZones("us-east-1"), []string{"us-east-1a", "us-east-1b", "us-east-1c"}); diff != "" {
		t.Errorf("AvailabilityZones (-got +want):\n%s", diff)
	}

	def, err := fakecloud.New(fakecloud.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(def.Regions(), []string{"eu-central-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2"}); diff != "" {
		t.Errorf("default regions (-got +want):\n%s", diff)
	}
	if got := len(def.InstanceTypes()); got != 16 {
		t.Errorf("%d default instance types, want 16", got)
	}
	if def.Seed() == 0 {
		t.Errorf("seed 0 was not replaced by a random seed")
	}

	for _, bad := range []string{
		`{"bootDelay": 10}`,
		`{"bootDelay": "-1s"}`,
		`{"flavour": "x"}`,
		`{"accountId": "12"}`,
		`{"capacityErrorRate": 1.5}`,
		`{"regions": ["Nowhere"]}`,
		`{"capacity": {"us-east-1z/m5.large": 1}}`,
		`{"capacity": {"us-east-1a/zz9.huge": 1}}`,
		`{"instanceTypes": {"m5.large": 0}}`,
		`{} {}`,
	} {
		cfg, err := fakecloud.ParseConfig(json.RawMessage(bad))
		if err == nil {
			_, err = fakecloud.New(cfg)
		}
		if err == nil {
			t.Errorf("config %s accepted", bad)
		}
	}
}

// TestOptionsDocumentEveryKey keeps the driver's help complete.
func TestOptionsDocumentEveryKey(t *testing.T) {
	var keys []string
	ct := reflect.TypeOf(fakecloud.Config{})
	for i := range ct.NumField() {
		keys = append(keys, strings.Split(ct.Field(i).Tag.Get("json"), ",")[0])
	}
	var documented []string
	for _, o := range fakecloud.Options() {
		documented = append(documented, o.Name)
		if o.Help == "" || o.Default == "" {
			t.Errorf("option %s lacks help or a default", o.Name)
		}
	}
	sort.Strings(keys)
	sort.Strings(documented)
	if diff := cmp.Diff(documented, keys); diff != "" {
		t.Errorf("documented options (-got +want):\n%s", diff)
	}
}

func TestRegisteredDriver(t *testing.T) {
	d, ok := cloud.Lookup("fake")
	if !ok || len(d.Options) == 0 {
		t.Fatalf("the fake driver is not registered with its options")
	}
	set, err := cloud.New("fake", json.RawMessage(`{"seed": 3, "bootDelay": "0s"}`), "set-1")
	if err != nil {
		t.Fatalf("cloud.New(fake): %v", err)
	}
	fs, ok := set.(*fakecloud.InstanceSet)
	if !ok || fs.ID() != "set-1" || fs.Cloud().Seed() != 3 {
		t.Fatalf("cloud.New(fake) = %T %+v, want a *fakecloud.InstanceSet for set-1 seeded 3", set, set)
	}
	if _, err := cloud.New("fake", json.RawMessage(`{"seed": "x"}`), "set-1"); err == nil {
		t.Errorf("cloud.New(fake) with a bad config succeeded")
	}
}

func TestConcurrentUse(t *testing.T) {
	c, clock := newCloud(t, func(cfg *fakecloud.Config) { cfg.BootDelay, cfg.ShutdownDelay = 0, 0 })
	var mu sync.Mutex
	states := map[string][]string{} // instance id -> states its events announced, in order
	// The sink calls back into the cloud, as a local stack's event handler may.
	c.SetEventSink(func(ctx context.Context, e json.RawMessage) {
		var ev struct {
			Detail struct {
				InstanceID string `json:"instance-id"`
				State      string `json:"state"`
			} `json:"detail"`
		}
		if err := json.Unmarshal(e, &ev); err != nil {
			t.Errorf("event %s: %v", e, err)
		}
		mu.Lock()
		states[ev.Detail.InstanceID] = append(states[ev.Detail.InstanceID], ev.Detail.State)
		mu.Unlock()
		_ = c.AllInstances()
	})
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			set := c.InstanceSet(cloud.InstanceSetID(fmt.Sprintf("set-%d", w%2)))
			for i := range 50 {
				got, err := set.Launch(ctx, cloud.LaunchRequest{Region: "us-east-1", InstanceType: "t3.small", ImageID: "ami-1", Count: 2,
					Tags: map[string]string{cloud.TagPool: fmt.Sprintf("p%d", i%5)}})
				if err != nil {
					t.Errorf("Launch: %v", err)
					return
				}
				if _, err := set.Instances(ctx, "us-east-1", map[string]string{cloud.TagPool: "p1"}); err != nil {
					t.Errorf("Instances: %v", err)
				}
				if i%3 == 0 {
					if err := set.Terminate(ctx, "us-east-1", []string{got[0].ID}); err != nil {
						t.Errorf("Terminate: %v", err)
					}
				}
				if i%10 == 0 {
					clock.Advance(time.Second)
					c.Step()
				}
			}
		}()
	}
	wg.Wait()
	clock.Advance(time.Minute)
	c.Step()
	all := c.AllInstances()
	if len(all) != 8*50*2 {
		t.Errorf("%d instances, want %d", len(all), 8*50*2)
	}
	terminated := 0
	for _, inst := range all {
		if inst.State == cloud.StateTerminated {
			terminated++
		}
	}
	if terminated != 8*17 {
		t.Errorf("%d terminated, want %d", terminated, 8*17)
	}
	// Each instance's events tell its life in order, ending in its listed state.
	allowed := map[string]bool{
		"pending,running":                          true,
		"pending,running,shutting-down,terminated": true,
		"pending,shutting-down,terminated":         true, // terminated before it booted
	}
	for _, inst := range all {
		seq := strings.Join(states[inst.ID], ",")
		if !allowed[seq] || !strings.HasSuffix(seq, inst.State) {
			t.Errorf("%s is %s after events %s", inst.ID, inst.State, seq)
		}
	}
	if len(states) != len(all) {
		t.Errorf("events about %d instances, want %d", len(states), len(all))
	}
}
