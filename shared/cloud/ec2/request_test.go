package ec2_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/cloud"
)

// withoutVersion drops the keys every EC2 request carries.
func withoutVersion(f map[string]string) map[string]string {
	delete(f, "Version")
	return f
}

func TestRunInstancesRequest(t *testing.T) {
	srv := newEC2Server(t, func(form url.Values) (int, string) {
		return http.StatusOK, `<RunInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
<requestId>req-r</requestId><reservationId>r-1</reservationId><ownerId>123456789012</ownerId>
<instancesSet>` + instanceItem("i-0aaa", "pending", 1, true) + instanceItem("i-0bbb", "pending", 2, true) + `</instancesSet></RunInstancesResponse>`
	})
	set := newSet(t, srv.URL, "set-1", nil)
	userData := []byte("#!/bin/sh\necho \x00\xff workerfleet\n")
	got, err := set.Launch(context.Background(), cloud.LaunchRequest{
		Region: "us-east-1", AvailabilityZone: "us-east-1b", InstanceType: "m5.large", ImageID: "ami-0abc",
		Count: 2, Spot: true, MaxPrice: 0.05, UserData: userData, ClientToken: "tok-1",
		Tags: map[string]string{cloud.TagPool: "p", "team": "ci"},
		LaunchSpec: []byte(`{
			"SubnetId": "subnet-1", "SecurityGroupIds": ["sg-1", "sg-2"], "KeyName": "k",
			"IamInstanceProfile": {"Name": "worker"}, "EbsOptimized": true,
			"Placement": {"Tenancy": "default"},
			"BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 100, "VolumeType": "gp3"}}],
			"TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "cost-center", "Value": "42"}, {"Key": "team", "Value": "overridden"}]}],
			"ImageId": "ami-overridden", "MinCount": 7, "DryRun": true, "UserData": "b3ZlcnJpZGRlbg=="
		}`),
	})
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	forms := srv.forms()
	if len(forms) != 1 {
		t.Fatalf("%d requests, want one RunInstances", len(forms))
	}
	want := map[string]string{
		"Action":                           "RunInstances",
		"ImageId":                          "ami-0abc",
		"InstanceType":                     "m5.large",
		"MinCount":                         "2",
		"MaxCount":                         "2",
		"ClientToken":                      "tok-1",
		"UserData":                         base64.StdEncoding.EncodeToString(userData),
		"InstanceMarketOptions.MarketType": "spot",
		"InstanceMarketOptions.SpotOptions.SpotInstanceType":             "one-time",
		"InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior": "terminate",
		"InstanceMarketOptions.SpotOptions.MaxPrice":                     "0.05",
		"Placement.AvailabilityZone":                                     "us-east-1b",
		"Placement.Tenancy":                                              "default",
		"SubnetId":                                                       "subnet-1",
		"SecurityGroupId.1":                                              "sg-1",
		"SecurityGroupId.2":                                              "sg-2",
		"KeyName":                                                        "k",
		"IamInstanceProfile.Name":                                        "worker",
		"EbsOptimized":                                                   "true",
		"BlockDeviceMapping.1.DeviceName":                                "/dev/xvda",
		"BlockDeviceMapping.1.Ebs.VolumeSize":                            "100",
		"BlockDeviceMapping.1.Ebs.VolumeType":                            "gp3",
		"TagSpecification.1.ResourceType":                                "instance",
		"TagSpecification.1.Tag.1.Key":                                   "cost-center",
		"TagSpecification.1.Tag.1.Value":                                 "42",
		"TagSpecification.1.Tag.2.Key":                                   "team",
		"TagSpecification.1.Tag.2.Value":                                 "ci",
		"TagSpecification.1.Tag.3.Key":                                   "workerfleet:instance-set",
		"TagSpecification.1.Tag.3.Value":                                 "set-1",
		"TagSpecification.1.Tag.4.Key":                                   "workerfleet:launch",
		"TagSpecification.1.Tag.4.Value":                                 "tok-1",
		"TagSpecification.1.Tag.5.Key":                                   "workerfleet:pool",
		"TagSpecification.1.Tag.5.Value":                                 "p",
		"TagSpecification.2.ResourceType":                                "volume",
		"TagSpecification.2.Tag.1.Key":                                   "team",
		"TagSpecification.2.Tag.1.Value":                                 "ci",
		"TagSpecification.2.Tag.2.Key":                                   "workerfleet:instance-set",
		"TagSpecification.2.Tag.2.Value":                                 "set-1",
		"TagSpecification.2.Tag.3.Key":                                   "workerfleet:launch",
		"TagSpecification.2.Tag.3.Value":                                 "tok-1",
		"TagSpecification.2.Tag.4.Key":                                   "workerfleet:pool",
		"TagSpecification.2.Tag.4.Value":                                 "p",
	}
	if diff := cmp.Diff(withoutVersion(forms[0]), want); diff != "" {
		t.Errorf("RunInstances request (-got +want):\n%s", diff)
	}

	wantInstances := []cloud.Instance{
		{ID: "i-0aaa", Region: "us-east-1", AvailabilityZone: "us-east-1b", InstanceType: "m5.large", ImageID: "ami-0abc",
			AccountID: "123456789012", PrivateIP: "10.0.0.1", State: "pending", Spot: true,
			LaunchTime: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
			Tags:       map[string]string{cloud.TagInstanceSet: "set-1", cloud.TagPool: "p"}},
		{ID: "i-0bbb", Region: "us-east-1", AvailabilityZone: "us-east-1b", InstanceType: "m5.large", ImageID: "ami-0abc",
			AccountID: "123456789012", PrivateIP: "10.0.0.2", State: "pending", Spot: true,
			LaunchTime: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
			Tags:       map[string]string{cloud.TagInstanceSet: "set-1", cloud.TagPool: "p"}},
	}
	if diff := cmp.Diff(got, wantInstances); diff != "" {
		t.Errorf("launched instances (-got +want):\n%s", diff)
	}
}

func TestRunInstancesOnDemandMinimal(t *testing.T) {
	srv := newEC2Server(t, func(form url.Values) (int, string) {
		return http.StatusOK, `<RunInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><ownerId>1</ownerId><instancesSet>` +
			instanceItem("i-0aaa", "pending", 1, false) + `</instancesSet></RunInstancesResponse>`
	})
	set := newSet(t, srv.URL, "set-1", nil)
	_, err := set.Launch(context.Background(), cloud.LaunchRequest{
		Region: "us-east-1", InstanceType: "t3.micro", ImageID: "ami-1", Count: 1,
		LaunchSpec: []byte(`{"InstanceMarketOptions": {"MarketType": "spot"}}`),
	})
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	form := withoutVersion(srv.forms()[0])
	token := form["ClientToken"]
	if len(token) != 32 {
		t.Errorf("generated ClientToken %q, want 32 hex characters", token)
	}
	want := map[string]string{
		"Action": "RunInstances", "ImageId": "ami-1", "InstanceType": "t3.micro", "MinCount": "1", "MaxCount": "1",
		"ClientToken":                     token,
		"TagSpecification.1.ResourceType": "instance",
		"TagSpecification.1.Tag.1.Key":    "workerfleet:instance-set", "TagSpecification.1.Tag.1.Value": "set-1",
		"TagSpecification.1.Tag.2.Key": "workerfleet:launch", "TagSpecification.1.Tag.2.Value": token,
		"TagSpecification.2.ResourceType": "volume",
		"TagSpecification.2.Tag.1.Key":    "workerfleet:instance-set", "TagSpecification.2.Tag.1.Value": "set-1",
		"TagSpecification.2.Tag.2.Key": "workerfleet:launch", "TagSpecification.2.Tag.2.Value": token,
	}
	if diff := cmp.Diff(form, want); diff != "" {
		t.Errorf("on-demand RunInstances (no spot options, no user data, no placement) (-got +want):\n%s", diff)
	}
}

func TestDescribeInstancesRequestsAndPages(t *testing.T) {
	pages := map[string]string{
		"":       describeBody("page-2", instanceItem("i-01", "running", 1, false), instanceItem("i-02", "pending", 2, true)),
		"page-2": describeBody("page-3", instanceItem("i-03", "shutting-down", 3, false)),
		"page-3": describeBody("", instanceItem("i-04", "terminated", 4, false)),
	}
	srv := newEC2Server(t, func(form url.Values) (int, string) {
		return http.StatusOK, pages[form.Get("NextToken")]
	})
	set := newSet(t, srv.URL, "set-1", nil)
	got, err := set.Instances(context.Background(), "us-east-1", map[string]string{cloud.TagPool: "p", "team": "ci"})
	if err != nil {
		t.Fatalf("Instances: %v", err)
	}
	var states []string
	for _, inst := range got {
		states = append(states, inst.ID+" "+inst.State)
	}
	if diff := cmp.Diff(states, []string{"i-01 running", "i-02 pending", "i-03 shutting-down", "i-04 terminated"}); diff != "" {
		t.Errorf("instances of three pages (-got +want):\n%s", diff)
	}
	forms := srv.forms()
	if len(forms) != 3 {
		t.Fatalf("%d DescribeInstances calls, want 3", len(forms))
	}
	for i, next := range []string{"", "page-2", "page-3"} {
		want := map[string]string{
			"Action":        "DescribeInstances",
			"MaxResults":    "1000",
			"Filter.1.Name": "tag:team", "Filter.1.Value.1": "ci",
			"Filter.2.Name": "tag:workerfleet:instance-set", "Filter.2.Value.1": "set-1",
			"Filter.3.Name": "tag:workerfleet:pool", "Filter.3.Value.1": "p",
		}
		if next != "" {
			want["NextToken"] = next
		}
		if diff := cmp.Diff(withoutVersion(forms[i]), want); diff != "" {
			t.Errorf("DescribeInstances page %d (-got +want):\n%s", i+1, diff)
		}
	}

	// Asking for another set's id makes no call at all.
	none, err := set.Instances(context.Background(), "us-east-1", map[string]string{cloud.TagInstanceSet: "set-2"})
	if err != nil || len(none) != 0 || len(srv.forms()) != 3 {
		t.Errorf("Instances(another set) = %v, %v after %d calls; want nothing and no call", none, err, len(srv.forms())-3)
	}
}

func TestTerminateChecksTagsFirst(t *testing.T) {
	// The cloud holds i-01 (ours, running), i-02 (ours, terminated); i-03 is
	// another set's and i-04 unknown, so a filtered describe does not return them.
	srv := newEC2Server(t, func(form url.Values) (int, string) {
		switch form.Get("Action") {
		case "DescribeInstances":
			return http.StatusOK, describeBody("", instanceItem("i-01", "running", 1, false), instanceItem("i-02", "terminated", 2, false))
		case "TerminateInstances":
			return http.StatusOK, `<TerminateInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><instancesSet><item><instanceId>i-01</instanceId><currentState><code>32</code><name>shutting-down</name></currentState></item></instancesSet></TerminateInstancesResponse>`
		}
		return http.StatusBadRequest, errorBody("InvalidAction", "unexpected")
	})
	set := newSet(t, srv.URL, "set-1", nil)
	if err := set.Terminate(context.Background(), "us-east-1", []string{"i-01", "i-02", "i-03", "i-04", "i-01", ""}); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	want := []map[string]string{
		{
			"Action": "DescribeInstances", "MaxResults": "1000",
			"Filter.1.Name": "instance-id", "Filter.1.Value.1": "i-01", "Filter.1.Value.2": "i-02", "Filter.1.Value.3": "i-03", "Filter.1.Value.4": "i-04",
			"Filter.2.Name": "tag:workerfleet:instance-set", "Filter.2.Value.1": "set-1",
		},
		{"Action": "TerminateInstances", "InstanceId.1": "i-01"},
	}
	var got []map[string]string
	for _, f := range srv.forms() {
		got = append(got, withoutVersion(f))
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("Terminate's calls (-got +want):\n%s", diff)
	}
}

func TestTerminateBatches(t *testing.T) {
	var ids []string
	for i := range 1500 {
		ids = append(ids, fmt.Sprintf("i-%05d", i))
	}
	srv := newEC2Server(t, func(form url.Values) (int, string) {
		if form.Get("Action") == "TerminateInstances" {
			return http.StatusOK, `<TerminateInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><instancesSet/></TerminateInstancesResponse>`
		}
		var items []string
		for i := 1; form.Get(fmt.Sprintf("Filter.1.Value.%d", i)) != ""; i++ {
			items = append(items, instanceItem(form.Get(fmt.Sprintf("Filter.1.Value.%d", i)), "running", i%250, false))
		}
		return http.StatusOK, describeBody("", items...)
	})
	set := newSet(t, srv.URL, "set-1", nil)
	if err := set.Terminate(context.Background(), "us-east-1", ids); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	var describes, terminates []int
	for _, f := range srv.forms() {
		n := 0
		for k := range f {
			if strings.HasPrefix(k, "Filter.1.Value.") || strings.HasPrefix(k, "InstanceId.") {
				n++
			}
		}
		if f["Action"] == "DescribeInstances" {
			describes = append(describes, n)
		} else {
			terminates = append(terminates, n)
		}
	}
	// 1500 ids: describes of 199 ids (200 filter values with the set's tag), terminates of 1000.
	if diff := cmp.Diff(describes, []int{199, 199, 199, 199, 199, 199, 199, 107}); diff != "" {
		t.Errorf("ids per DescribeInstances (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(terminates, []int{1000, 500}); diff != "" {
		t.Errorf("ids per TerminateInstances (-got +want):\n%s", diff)
	}
}

func TestTerminateInstanceVanished(t *testing.T) {
	srv := newEC2Server(t, func(form url.Values) (int, string) {
		switch {
		case form.Get("Action") == "DescribeInstances":
			return http.StatusOK, describeBody("", instanceItem("i-01", "running", 1, false), instanceItem("i-02", "running", 2, false))
		case form.Get("InstanceId.1") == "i-02" || form.Get("InstanceId.2") == "i-02":
			return http.StatusBadRequest, errorBody("InvalidInstanceID.NotFound", "The instance ID 'i-02' does not exist")
		}
		return http.StatusOK, `<TerminateInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><instancesSet/></TerminateInstancesResponse>`
	})
	set := newSet(t, srv.URL, "set-1", nil)
	if err := set.Terminate(context.Background(), "us-east-1", []string{"i-01", "i-02"}); err != nil {
		t.Fatalf("Terminate with an instance vanishing in between = %v, want nil", err)
	}
	var terminated []string
	for _, f := range srv.forms() {
		if f["Action"] == "TerminateInstances" {
			terminated = append(terminated, f["InstanceId.1"]+","+f["InstanceId.2"])
		}
	}
	if diff := cmp.Diff(terminated, []string{"i-01,i-02", "i-01,", "i-02,"}); diff != "" {
		t.Errorf("TerminateInstances calls (-got +want):\n%s", diff)
	}
}

func TestSpotPriceHistoryRequest(t *testing.T) {
	srv := newEC2Server(t, func(form url.Values) (int, string) {
		item := func(typ, az, price, at string) string {
			return `<item><instanceType>` + typ + `</instanceType><productDescription>Linux/UNIX</productDescription><spotPrice>` + price +
				`</spotPrice><timestamp>` + at + `</timestamp><availabilityZone>` + az + `</availabilityZone></item>`
		}
		if form.Get("NextToken") == "" {
			return http.StatusOK, `<DescribeSpotPriceHistoryResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><spotPriceHistorySet>` +
				item("m5.large", "us-east-1a", "0.0350", "2024-05-01T11:00:00.000Z") +
				item("m5.large", "us-east-1a", "0.0370", "2024-05-01T11:30:00.000Z") +
				item("c5.large", "us-east-1b", "0.0290", "2024-05-01T10:00:00.000Z") +
				`</spotPriceHistorySet><nextToken>more</nextToken></DescribeSpotPriceHistoryResponse>`
		}
		return http.StatusOK, `<DescribeSpotPriceHistoryResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><spotPriceHistorySet>` +
			item("m5.large", "us-east-1b", "0.0410", "2024-05-01T11:45:00.000Z") +
			item("m5.large", "us-east-1a", "0.0360", "2024-05-01T11:15:00.000Z") +
			`</spotPriceHistorySet><nextToken></nextToken></DescribeSpotPriceHistoryResponse>`
	})
	set := newSet(t, srv.URL, "set-1", nil)
	before := time.Now().UTC().Add(-time.Second)
	got, err := set.SpotPrices(context.Background(), "us-east-1", []string{"m5.large", "c5.large"})
	if err != nil {
		t.Fatalf("SpotPrices: %v", err)
	}
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	want := []cloud.Price{
		{Region: "us-east-1", AvailabilityZone: "us-east-1b", InstanceType: "c5.large", Price: 0.029, Time: at("2024-05-01T10:00:00Z")},
		{Region: "us-east-1", AvailabilityZone: "us-east-1a", InstanceType: "m5.large", Price: 0.037, Time: at("2024-05-01T11:30:00Z")},
		{Region: "us-east-1", AvailabilityZone: "us-east-1b", InstanceType: "m5.large", Price: 0.041, Time: at("2024-05-01T11:45:00Z")},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("newest price per AZ and type (-got +want):\n%s", diff)
	}
	forms := srv.forms()
	if len(forms) != 2 {
		t.Fatalf("%d calls, want 2 pages", len(forms))
	}
	start, err := time.Parse(time.RFC3339, forms[0]["StartTime"])
	if err != nil || start.Before(before) || start.After(time.Now().Add(time.Second)) {
		t.Errorf("StartTime %q, want now", forms[0]["StartTime"])
	}
	wantForm := map[string]string{
		"Action": "DescribeSpotPriceHistory", "InstanceType.1": "m5.large", "InstanceType.2": "c5.large",
		"ProductDescription.1": "Linux/UNIX", "MaxResults": "1000", "StartTime": forms[0]["StartTime"],
	}
	if diff := cmp.Diff(withoutVersion(forms[0]), wantForm); diff != "" {
		t.Errorf("DescribeSpotPriceHistory request (-got +want):\n%s", diff)
	}
	if forms[1]["NextToken"] != "more" {
		t.Errorf("second page asked with NextToken %q, want more", forms[1]["NextToken"])
	}
}
