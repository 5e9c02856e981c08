package pool

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"
)

// SecurityTokenPlaceholder stands for the security token in previews of user data
// (getLaunchSpecs); each real instance gets its own.
const SecurityTokenPlaceholder = "<generated per instance>"

// UserDataContext is what the deployment contributes to an instance's user data.
type UserDataContext struct {
	RootURL   string    // Taskcluster root URL workers use, e.g. https://tc.example.com
	Generated time.Time // when the launch spec is generated (launchSpecGenerated)
}

// Launch is what is decided for one aws-provisioner instance as it is launched.
type Launch struct {
	// AvailabilityZone the instance is launched in; "" takes the option's (which may
	// itself be "" when EC2 picks the zone).
	AvailabilityZone string
	// SecurityToken lets the instance fetch its secrets and credentials (getSecret).
	SecurityToken string
	// Bid is the spot bid (spotBid), or 0 on-demand.
	Bid float64
	// Price is the instance's price per unit of utility (price), as the
	// aws-provisioner wrote it.
	Price float64
}

// workerTypeUserData is the user data docker-worker and generic-worker read from an
// aws-provisioner instance.
type workerTypeUserData struct {
	Data                json.RawMessage `json:"data"`
	Capacity            float64         `json:"capacity"`
	WorkerType          string          `json:"workerType"`
	ProvisionerID       string          `json:"provisionerId"`
	Region              string          `json:"region"`
	AvailabilityZone    string          `json:"availabilityZone"`
	InstanceType        string          `json:"instanceType"`
	SpotBid             float64         `json:"spotBid"`
	Price               float64         `json:"price"`
	LaunchSpecGenerated string          `json:"launchSpecGenerated"`
	LastModified        string          `json:"lastModified"`
	ProvisionerBaseURL  string          `json:"provisionerBaseUrl"`
	TaskclusterRootURL  string          `json:"taskclusterRootUrl"`
	SecurityToken       string          `json:"securityToken"`
}

// WorkerTypeUserData is the JSON an aws-provisioner instance launched for option o
// of worker type workerType receives (EC2 UserData is its base64):
//
//	{"data": <merged userData>, "capacity", "workerType", "provisionerId": "aws-provisioner-v1",
//	 "region", "availabilityZone", "instanceType", "spotBid", "price",
//	 "launchSpecGenerated", "lastModified", "provisionerBaseUrl": <rootUrl>/api/aws-provisioner/v1,
//	 "taskclusterRootUrl": <rootUrl>, "securityToken"}
//
// Times are written as Taskcluster writes them (2006-01-02T15:04:05.000Z). It fails
// if the inputs are inconsistent or the result exceeds EC2's 16 KiB. getLaunchSpecs
// shows the same JSON with SecurityTokenPlaceholder as the token.
func WorkerTypeUserData(workerType string, lastModified time.Time, o Option, ctx UserDataContext, l Launch) ([]byte, error) {
	if !ValidWorkerTypeName(workerType) {
		return nil, fmt.Errorf("worker type user data: invalid worker type name %q", workerType)
	}
	root, err := rootURL(ctx.RootURL)
	if err != nil {
		return nil, fmt.Errorf("worker type user data: %w", err)
	}
	if l.SecurityToken == "" {
		return nil, errors.New("worker type user data: security token is required")
	}
	for _, p := range []float64{l.Bid, l.Price} {
		if math.IsNaN(p) || math.IsInf(p, 0) || p < 0 {
			return nil, errors.New("worker type user data: bid and price must be finite numbers >= 0")
		}
	}
	zone := l.AvailabilityZone
	switch {
	case zone == "":
		zone = o.AvailabilityZone
	case o.AvailabilityZone != "" && zone != o.AvailabilityZone:
		return nil, fmt.Errorf("worker type user data: availability zone %q is not the option's %q", zone, o.AvailabilityZone)
	}
	if zone != "" && !zoneOfRegion(zone, o.Region) {
		return nil, fmt.Errorf("worker type user data: %q is not an availability zone of region %q", zone, o.Region)
	}
	b, err := marshal(workerTypeUserData{
		Data:                objectOrEmpty(o.UserData),
		Capacity:            o.Capacity,
		WorkerType:          workerType,
		ProvisionerID:       ProvisionerID,
		Region:              o.Region,
		AvailabilityZone:    zone,
		InstanceType:        o.InstanceType,
		SpotBid:             l.Bid,
		Price:               l.Price,
		LaunchSpecGenerated: formatTime(ctx.Generated),
		LastModified:        formatTime(lastModified),
		ProvisionerBaseURL:  root + "/api/aws-provisioner/v1",
		TaskclusterRootURL:  root,
		SecurityToken:       l.SecurityToken,
	})
	if err != nil {
		return nil, fmt.Errorf("worker type user data: %w", err)
	}
	if len(b) > ec2UserDataLimit {
		return nil, fmt.Errorf("worker type user data is %d bytes; EC2 takes at most %d", len(b), ec2UserDataLimit)
	}
	return b, nil
}

// PoolUserData is the JSON an instance launched for option o of an aws worker pool
// receives (EC2 UserData is its base64), as worker-runner reads it: the launch
// config's additionalUserData with rootUrl, workerPoolId, providerId, workerGroup and
// workerConfig set over it. It fails if an id is malformed or the result exceeds
// EC2's 16 KiB.
func PoolUserData(rootURLString, workerPoolID, providerID, workerGroup string, o Option) ([]byte, error) {
	root, err := rootURL(rootURLString)
	if err != nil {
		return nil, fmt.Errorf("pool user data: %w", err)
	}
	switch {
	case !ValidWorkerPoolID(workerPoolID):
		return nil, fmt.Errorf("pool user data: invalid worker pool id %q", workerPoolID)
	case !ValidProviderID(providerID):
		return nil, fmt.Errorf("pool user data: invalid provider id %q", providerID)
	case !ValidWorkerGroup(workerGroup):
		return nil, fmt.Errorf("pool user data: invalid worker group %q", workerGroup)
	}
	data := decodeObject(o.AdditionalUserData)
	data["rootUrl"] = root
	data["workerPoolId"] = workerPoolID
	data["providerId"] = providerID
	data["workerGroup"] = workerGroup
	data["workerConfig"] = decodeObject(o.WorkerConfig)
	return encodePoolUserData(data)
}

// rootURL checks a Taskcluster root URL and returns it without a trailing slash.
func rootURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("root url %q is not an absolute http(s) url", s)
	}
	return strings.TrimRight(s, "/"), nil
}

// launchSpecsEntry is one region x instance type of a getLaunchSpecs response.
type launchSpecsEntry struct {
	LaunchSpec        json.RawMessage      `json:"launchSpec"`
	UserData          json.RawMessage      `json:"userData"`
	Secrets           json.RawMessage      `json:"secrets"`
	Scopes            []string             `json:"scopes"`
	Capacity          float64              `json:"capacity"`
	Utility           float64              `json:"utility"`
	AvailabilityZones map[string]zoneEntry `json:"availabilityZones,omitempty"`
}

type zoneEntry struct {
	LaunchSpec json.RawMessage `json:"launchSpec"`
	UserData   json.RawMessage `json:"userData"`
	Secrets    json.RawMessage `json:"secrets"`
}

// LaunchSpecs is the getLaunchSpecs response for worker type name: an object keyed
// by region, then instance type, each
//
//	{"launchSpec": <merged RunInstances fields incl. ImageId and InstanceType>,
//	 "userData": <the full user data an instance receives>, "secrets": <merged>,
//	 "scopes": <union>, "capacity", "utility",
//	 "availabilityZones": {<zone>: {"launchSpec", "userData", "secrets"}}}
//
// where availabilityZones appears only for regions with zones configured. userData is
// what WorkerTypeUserData gives, with SecurityTokenPlaceholder as the token, the
// instance-price bound maxPrice*utility as the bid and maxPrice as the price; if WorkerTypeUserData refuses
// (say the user data would exceed 16 KiB), userData is {"error": <why>} instead.
func (w WorkerType) LaunchSpecs(name string, lastModified time.Time, gen UserDataContext) json.RawMessage {
	x := w.expand()
	out := map[string]map[string]launchSpecsEntry{}
	for i, r := range w.Regions {
		byType := map[string]launchSpecsEntry{}
		for j, t := range w.InstanceTypes {
			m := x.merge(w, i, j, -1)
			o := w.option(m)
			e := launchSpecsEntry{
				LaunchSpec: o.LaunchSpec,
				UserData:   previewUserData(name, lastModified, o, gen),
				Secrets:    o.Secrets,
				Scopes:     o.Scopes,
				Capacity:   t.Capacity,
				Utility:    t.Utility,
			}
			for _, k := range w.zonesOf(r.Region) {
				if k < 0 {
					continue
				}
				zo := w.option(x.merge(w, i, j, k))
				if e.AvailabilityZones == nil {
					e.AvailabilityZones = map[string]zoneEntry{}
				}
				e.AvailabilityZones[zo.AvailabilityZone] = zoneEntry{
					LaunchSpec: zo.LaunchSpec,
					UserData:   previewUserData(name, lastModified, zo, gen),
					Secrets:    zo.Secrets,
				}
			}
			byType[t.InstanceType] = e
		}
		out[r.Region] = byType
	}
	b, err := marshal(out)
	if err != nil {
		return json.RawMessage("{}")
	}
	return b
}

func previewUserData(name string, lastModified time.Time, o Option, gen UserDataContext) json.RawMessage {
	b, err := WorkerTypeUserData(name, lastModified, o, gen, Launch{SecurityToken: SecurityTokenPlaceholder, Bid: o.MaxPrice, Price: o.MaxPrice / o.Utility})
	if err != nil {
		b, _ = marshal(map[string]string{"error": err.Error()})
	}
	return b
}

// WorkerConfigJSON is the workerConfig a pool's worker launched for o receives,
// exactly as PoolUserData writes it into the user data: what registerWorker hands
// today's worker-runner, which reads it from there and not from the user data.
func (o Option) WorkerConfigJSON() ([]byte, error) {
	b, err := marshal(decodeObject(o.WorkerConfig))
	if err != nil {
		return nil, fmt.Errorf("workerConfig: %w", err)
	}
	return b, nil
}

// WithUserDataMember returns pool user data with one more member (today's
// worker-manager writes the launch config's launchConfigId there), refused past
// EC2's limit.
func WithUserDataMember(userData []byte, key string, value any) ([]byte, error) {
	data := decodeObject(userData)
	data[key] = value
	return encodePoolUserData(data)
}

// encodePoolUserData is a pool instance's user data as EC2 gets it, refused past
// EC2's limit.
func encodePoolUserData(data object) ([]byte, error) {
	b, err := marshal(data)
	if err != nil {
		return nil, fmt.Errorf("pool user data: %w", err)
	}
	if len(b) > ec2UserDataLimit {
		return nil, fmt.Errorf("pool user data is %d bytes; EC2 takes at most %d", len(b), ec2UserDataLimit)
	}
	return b, nil
}
