package pool

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// levelObject is what the merge-order definition sets at one level: the same members
// at every level, so the merged result shows which level won each.
func levelObject(level string) map[string]any {
	return map[string]any{
		"k":      level,
		"nested": map[string]any{level: 1, "shared": level},
		"list":   []any{level},
	}
}

// mergedObject is what merging levelObject of the given levels, in order, must give:
// the aws-provisioner's shallow merge, so the last level's members win whole.
func mergedObject(levels ...string) map[string]any {
	out := map[string]any{}
	for _, l := range levels {
		out["k"] = l
		out["list"] = []any{l}
		out["nested"] = map[string]any{l: float64(1), "shared": l}
	}
	return out
}

func mergeOrderWorkerType(t *testing.T) WorkerType {
	t.Helper()
	withLevel := func(m map[string]any, level string) map[string]any {
		m["launchSpec"] = levelObject(level)
		m["userData"] = levelObject(level)
		m["secrets"] = levelObject(level)
		return m
	}
	wt := withLevel(doc(t, minimalWorkerTypeJSON), "workerType")
	wt["scopes"] = []any{"b:workerType", "shared"}
	east := withLevel(map[string]any{"region": "us-east-1", "scopes": []any{"a:region", "shared"}}, "region")
	east["launchSpec"].(map[string]any)["ImageId"] = "ami-east"
	west := map[string]any{"region": "us-west-2", "launchSpec": map[string]any{"ImageId": "ami-west"}, "userData": nil, "secrets": nil, "scopes": nil}
	wt["regions"] = []any{east, west}
	large := withLevel(map[string]any{"instanceType": "m5.large", "capacity": 1, "utility": 1, "scopes": []any{"c:instanceType", "shared"}}, "instanceType")
	xlarge := map[string]any{"instanceType": "m5.xlarge", "capacity": 2, "utility": 2, "launchSpec": nil, "userData": nil, "secrets": nil, "scopes": nil}
	wt["instanceTypes"] = []any{large, xlarge}
	wt["availabilityZones"] = []any{withLevel(map[string]any{"region": "us-east-1", "availabilityZone": "us-east-1a"}, "zone")}
	w, err := ParseWorkerType(encode(t, wt), ParseOptions{})
	if err != nil {
		t.Fatalf("ParseWorkerType: %v", err)
	}
	return w
}

// TestMergeOrder: the aws-provisioner's createLaunchSpec merges worker type, region,
// availability zone, then instance type, shallowly (lodash's assign).
func TestMergeOrder(t *testing.T) {
	w := mergeOrderWorkerType(t)
	tests := []struct {
		id         string
		levels     []string
		structural map[string]any // the launchSpec fields that come from the definition's structure
		scopes     []string
	}{
		{"us-east-1/us-east-1a/m5.large/spot", []string{"workerType", "region", "zone", "instanceType"},
			map[string]any{"ImageId": "ami-east", "InstanceType": "m5.large", "Placement": map[string]any{"AvailabilityZone": "us-east-1a"}},
			[]string{"a:region", "b:workerType", "c:instanceType", "shared"}},
		{"us-east-1/us-east-1a/m5.xlarge/spot", []string{"workerType", "region", "zone"},
			map[string]any{"ImageId": "ami-east", "InstanceType": "m5.xlarge", "Placement": map[string]any{"AvailabilityZone": "us-east-1a"}},
			[]string{"a:region", "b:workerType", "shared"}},
		{"us-west-2/*/m5.large/spot", []string{"workerType", "instanceType"},
			map[string]any{"ImageId": "ami-west", "InstanceType": "m5.large"},
			[]string{"b:workerType", "c:instanceType", "shared"}},
		{"us-west-2/*/m5.xlarge/spot", []string{"workerType"},
			map[string]any{"ImageId": "ami-west", "InstanceType": "m5.xlarge"},
			[]string{"b:workerType", "shared"}},
	}
	options := w.Options()
	var ids []string
	for _, o := range options {
		ids = append(ids, o.ID)
	}
	var wantIDs []string
	for _, tt := range tests {
		wantIDs = append(wantIDs, tt.id)
	}
	if diff := cmp.Diff(ids, wantIDs); diff != "" {
		t.Fatalf("option ids (-got +want):\n%s", diff)
	}
	for i, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			o := options[i]
			wantSpec := mergedObject(tt.levels...)
			for k, v := range tt.structural {
				wantSpec[k] = v
			}
			if diff := cmp.Diff(decodeJSON(t, o.LaunchSpec), any(wantSpec)); diff != "" {
				t.Errorf("launchSpec (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(decodeJSON(t, o.UserData), any(mergedObject(tt.levels...))); diff != "" {
				t.Errorf("userData (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(decodeJSON(t, o.Secrets), any(mergedObject(tt.levels...))); diff != "" {
				t.Errorf("secrets (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(o.Scopes, tt.scopes); diff != "" {
				t.Errorf("scopes (-got +want):\n%s", diff)
			}
		})
	}
}

// TestMergeOrderDocExample holds the package documentation's example to the code.
func TestMergeOrderDocExample(t *testing.T) {
	m := doc(t, minimalWorkerTypeJSON)
	m["launchSpec"] = map[string]any{"KeyName": "wt", "Monitoring": map[string]any{"Enabled": false}, "SecurityGroupIds": []any{"sg-wt"}}
	set(m, "regions.0.launchSpec", map[string]any{"ImageId": "ami-1", "KeyName": "region", "SecurityGroupIds": []any{"sg-region"}})
	set(m, "instanceTypes.0.launchSpec", map[string]any{"KeyName": "type"})
	m["availabilityZones"] = []any{map[string]any{"region": "us-east-1", "availabilityZone": "us-east-1a", "launchSpec": map[string]any{"SubnetId": "subnet-a"}}}
	w, err := ParseWorkerType(encode(t, m), ParseOptions{})
	if err != nil {
		t.Fatalf("ParseWorkerType: %v", err)
	}
	opts := w.Options()
	if len(opts) != 1 {
		t.Fatalf("got %d options, want 1", len(opts))
	}
	want := `{"ImageId":"ami-1","InstanceType":"m5.large","KeyName":"type","Monitoring":{"Enabled":false},"Placement":{"AvailabilityZone":"us-east-1a"},"SecurityGroupIds":["sg-region"],"SubnetId":"subnet-a"}`
	// The aws-provisioner's merge is shallow: an instance type's Monitoring would
	// replace the worker type's whole, and it applies after the zone's.
	if got := string(opts[0].LaunchSpec); got != want {
		t.Errorf("launchSpec = %s, want %s", got, want)
	}
}

func TestAssignInto(t *testing.T) {
	tests := []struct {
		name           string
		dst, src, want string
	}{
		{"disjoint members", `{"a":1}`, `{"b":2}`, `{"a":1,"b":2}`},
		{"later scalar wins", `{"a":1}`, `{"a":2}`, `{"a":2}`},
		{"objects are replaced whole, as lodash's assign", `{"o":{"x":1,"y":{"p":1}}}`, `{"o":{"y":{"q":2}}}`, `{"o":{"y":{"q":2}}}`},
		{"arrays are replaced, not concatenated", `{"l":[1,2]}`, `{"l":[3]}`, `{"l":[3]}`},
		{"null replaces", `{"a":{"x":1}}`, `{"a":null}`, `{"a":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := decodeObject(json.RawMessage(tt.dst))
			src := decodeObject(json.RawMessage(tt.src))
			assignInto(dst, src)
			if diff := cmp.Diff(decodeJSON(t, raw(dst)), decodeJSON(t, []byte(tt.want))); diff != "" {
				t.Errorf("merged (-got +want):\n%s", diff)
			}
		})
	}
	t.Run("sources are not changed", func(t *testing.T) {
		a := decodeObject(json.RawMessage(`{"o":{"x":1},"l":[1]}`))
		b := decodeObject(json.RawMessage(`{"o":{"y":2}}`))
		out := object{}
		assignInto(out, a)
		assignInto(out, b)
		out["o"].(map[string]any)["z"] = 3
		out["l"].([]any)[0] = 9
		if got, want := string(raw(a)), `{"l":[1],"o":{"x":1}}`; got != want {
			t.Errorf("first level after merging = %s, want %s", got, want)
		}
		if got, want := string(raw(b)), `{"o":{"y":2}}`; got != want {
			t.Errorf("second level after merging = %s, want %s", got, want)
		}
	})
}

func TestWorkerTypeOptions(t *testing.T) {
	w := parseTestdata(t)
	opts := w.Options()
	want := Option{
		ID:               "us-east-1/us-east-1a/m5.xlarge/spot",
		Region:           "us-east-1",
		AvailabilityZone: "us-east-1a",
		InstanceType:     "m5.xlarge",
		ImageID:          "ami-east",
		Capacity:         2,
		Utility:          2,
		Spot:             true,
		MinPrice:         0.25,
		MaxPrice:         4,
		Bid:              BidRule{Margin: 2, MinPerUnit: 0.5, Cap: 10},
		LaunchSpec: json.RawMessage(`{"BlockDeviceMappings":[{"DeviceName":"/dev/xvdb","Ebs":{"DeleteOnTermination":true,"VolumeSize":120,"VolumeType":"gp3"}}],` +
			`"ImageId":"ami-east","InstanceType":"m5.xlarge","KeyName":"zone","Monitoring":{"Enabled":false},"Placement":{"AvailabilityZone":"us-east-1a"},` +
			`"SecurityGroupIds":["sg-region"],"SubnetId":"subnet-a"}`),
		UserData: json.RawMessage(`{"capacityManagement":{"diskspaceThreshold":30000000000},"dockerConfig":{"allowPrivileged":false},"level":"zone","region-only":1}`),
		Secrets:  json.RawMessage(`{"files":[],"level":"zone"}`),
		Scopes:   []string{"assume:worker-type:aws-provisioner-v1/builder", "queue:claim-work:aws-provisioner-v1/builder", "region:us-east-1"},
	}
	i := slices.IndexFunc(opts, func(o Option) bool { return o.ID == want.ID })
	if i < 0 {
		t.Fatalf("no option %s among %d", want.ID, len(opts))
	}
	if diff := cmp.Diff(opts[i], want); diff != "" {
		t.Errorf("option (-got +want):\n%s", diff)
	}
}

func TestWorkerTypeOptionsFanOut(t *testing.T) {
	ids := func(opts []Option) []string {
		var out []string
		for _, o := range opts {
			out = append(out, o.ID)
		}
		return out
	}
	tests := []struct {
		name string
		edit func(m map[string]any)
		want []string
	}{
		{"spot only, zones in one region", func(map[string]any) {}, []string{
			"us-east-1/us-east-1a/m5.large/spot",
			"us-east-1/us-east-1b/m5.large/spot",
			"us-east-1/us-east-1a/m5.xlarge/spot",
			"us-east-1/us-east-1b/m5.xlarge/spot",
			"us-west-2/*/m5.large/spot",
			"us-west-2/*/m5.xlarge/spot",
		}},
		{"spot and on-demand", func(m map[string]any) { m["canUseOndemand"] = true }, []string{
			"us-east-1/us-east-1a/m5.large/spot", "us-east-1/us-east-1a/m5.large/on-demand",
			"us-east-1/us-east-1b/m5.large/spot", "us-east-1/us-east-1b/m5.large/on-demand",
			"us-east-1/us-east-1a/m5.xlarge/spot", "us-east-1/us-east-1a/m5.xlarge/on-demand",
			"us-east-1/us-east-1b/m5.xlarge/spot", "us-east-1/us-east-1b/m5.xlarge/on-demand",
			"us-west-2/*/m5.large/spot", "us-west-2/*/m5.large/on-demand",
			"us-west-2/*/m5.xlarge/spot", "us-west-2/*/m5.xlarge/on-demand",
		}},
		{"on-demand only, no zones", func(m map[string]any) {
			m["canUseSpot"], m["canUseOndemand"] = false, true
			delete(m, "availabilityZones")
		}, []string{
			"us-east-1/*/m5.large/on-demand",
			"us-east-1/*/m5.xlarge/on-demand",
			"us-west-2/*/m5.large/on-demand",
			"us-west-2/*/m5.xlarge/on-demand",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := doc(t, string(readTestdata(t, "workertype.json")))
			tt.edit(m)
			w, err := ParseWorkerType(encode(t, m), ParseOptions{})
			if err != nil {
				t.Fatalf("ParseWorkerType: %v", err)
			}
			opts := w.Options()
			if diff := cmp.Diff(ids(opts), tt.want); diff != "" {
				t.Errorf("option ids (-got +want):\n%s", diff)
			}
			for _, o := range opts {
				if wantSpot := o.ID[len(o.ID)-4:] == "spot"; o.Spot != wantSpot {
					t.Errorf("option %s has Spot %v, want %v", o.ID, o.Spot, wantSpot)
				}
			}
		})
	}
}

// TestWorkerTypePriceBounds: the aws-provisioner compared the spot price per unit of
// utility with maxPrice (determineSpotBids: price = spot/utility; bid only while
// price <= maxPrice), so an instance may cost up to maxPrice*utility; its floor bid
// is minPrice/utility.
func TestWorkerTypePriceBounds(t *testing.T) {
	tests := []struct {
		name                     string
		minPrice, maxPrice, util float64
		wantMin, wantMax         float64
	}{
		{"utility 2: twice the work may cost twice as much", 0.5, 2, 2, 0.25, 4},
		{"utility 1 keeps the prices", 0.5, 2, 1, 0.5, 2},
		{"utility below 1 lowers the bound", 0.5, 2, 0.5, 1, 1},
		{"no minimum", 0, 1, 4, 0, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := doc(t, minimalWorkerTypeJSON)
			m["minPrice"], m["maxPrice"] = tt.minPrice, tt.maxPrice
			m["canUseOndemand"] = true
			set(m, "instanceTypes.0.utility", tt.util)
			w, err := ParseWorkerType(encode(t, m), ParseOptions{})
			if err != nil {
				t.Fatalf("ParseWorkerType: %v", err)
			}
			for _, o := range w.Options() {
				if o.MinPrice != tt.wantMin || o.MaxPrice != tt.wantMax {
					t.Errorf("option %s has MinPrice %v, MaxPrice %v; want %v, %v", o.ID, o.MinPrice, o.MaxPrice, tt.wantMin, tt.wantMax)
				}
			}
		})
	}
}

// TestSpotBid: the aws-provisioner's bid (determineSpotBids) is twice the spot price,
// rounded up to a millionth of a dollar; where the price per unit of utility is below
// minPrice, raised to minPrice/utility (the original replaced it, even with a lower
// bid); and it makes no bid above $10. A pool's spot
// request offers its maxPrice (none: EC2's default).
func TestSpotBid(t *testing.T) {
	wt := func(utility, minPrice float64) Option {
		return Option{Utility: utility, MaxPrice: 100, Bid: AWSProvisionerBids(minPrice)}
	}
	tests := []struct {
		name   string
		o      Option
		spot   float64
		bid    float64
		launch bool
	}{
		{"twice the spot price", wt(1, 0), 0.1, 0.2, true},
		{"rounded up to a millionth", wt(1, 0), 0.1234567, 0.246914, true},
		{"below minPrice per unit: raised to minPrice/utility", wt(1, 0.5), 0.1, 0.5, true},
		{"below minPrice per unit, never lowered under twice the spot price", wt(2, 0.5), 0.4, 0.8, true},
		{"at minPrice per unit: twice the spot price", wt(2, 0.05), 0.1, 0.2, true},
		{"above $10: no bid", wt(1, 0), 6, 12, false},
		{"a pool bids its maxPrice", Option{Utility: 1, MaxPrice: 0.4}, 0.1, 0.4, true},
		{"a pool without maxPrice bids nothing", Option{Utility: 1}, 0.1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bid, ok := tt.o.SpotBid(tt.spot)
			if bid != tt.bid || ok != tt.launch {
				t.Errorf("SpotBid(%v) = %v, %v; want %v, %v", tt.spot, bid, ok, tt.bid, tt.launch)
			}
		})
	}
}

func TestWorkerTypeOptionIDsStable(t *testing.T) {
	byID := func(w WorkerType) map[string]Option {
		out := map[string]Option{}
		for _, o := range w.Options() {
			out[o.ID] = o
		}
		return out
	}
	base := byID(parseTestdata(t))
	m := doc(t, string(readTestdata(t, "workertype.json")))
	slices.Reverse(m["regions"].([]any))
	slices.Reverse(m["instanceTypes"].([]any))
	slices.Reverse(m["availabilityZones"].([]any))
	m["description"] = "an unrelated edit"
	m["maxCapacity"] = 400
	w, err := ParseWorkerType(encode(t, m), ParseOptions{})
	if err != nil {
		t.Fatalf("ParseWorkerType: %v", err)
	}
	if diff := cmp.Diff(byID(w), base); diff != "" {
		t.Errorf("options after re-ordering and unrelated edits (-got +want):\n%s", diff)
	}
}
