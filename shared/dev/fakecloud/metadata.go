package fakecloud

import (
	"fmt"
	"strings"
	"time"
)

// Metadata is what an instance reads about itself from EC2's instance metadata
// service (the meta-data/ paths), for the local stack's metadata endpoint.
type Metadata struct {
	InstanceID, InstanceType, ImageID string
	Region, AvailabilityZone          string
	LocalIPv4, LocalHostname          string
	// PublicIPv4 is in 100.64.0.0/10 (shared address space, never routed on the
	// internet): fake instances have a public address that cannot be anyone's.
	PublicIPv4, PublicHostname string
	Spot                       bool
	// InterruptionAction is "terminate" and InterruptionTime when the instance
	// stops, once a spot interruption is announced for it; "" and zero before.
	InterruptionAction string
	InterruptionTime   time.Time
}

// Metadata returns instance id's metadata. An unknown instance is an error
// wrapping ErrNotFound.
func (c *Cloud) Metadata(id string) (Metadata, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	inst, ok := c.byID[id]
	if !ok {
		return Metadata{}, notFound(id)
	}
	public := fmt.Sprintf("100.%d.%d.%d", 64+(inst.seq>>16)&63, (inst.seq>>8)&255, inst.seq&255)
	m := Metadata{
		InstanceID: inst.inst.ID, InstanceType: inst.inst.InstanceType, ImageID: inst.inst.ImageID,
		Region: inst.inst.Region, AvailabilityZone: inst.inst.AvailabilityZone,
		LocalIPv4: inst.inst.PrivateIP, LocalHostname: hostname("ip", inst.inst.PrivateIP, inst.inst.Region, false),
		PublicIPv4: public, PublicHostname: hostname("ec2", public, inst.inst.Region, true),
		Spot: inst.inst.Spot,
	}
	if inst.interrupted {
		m.InterruptionAction, m.InterruptionTime = "terminate", inst.interruptAt
	}
	return m, nil
}

// hostname is EC2's DNS name for an address: ip-10-0-0-1.ec2.internal and
// ec2-1-2-3-4.compute-1.amazonaws.com in us-east-1,
// ip-10-0-0-1.<region>.compute.internal and ec2-1-2-3-4.<region>.compute.amazonaws.com
// elsewhere.
func hostname(prefix, ip, region string, public bool) string {
	name := prefix + "-" + strings.ReplaceAll(ip, ".", "-")
	switch {
	case region == "us-east-1" && public:
		return name + ".compute-1.amazonaws.com"
	case region == "us-east-1":
		return name + ".ec2.internal"
	case public:
		return name + "." + region + ".compute.amazonaws.com"
	default:
		return name + "." + region + ".compute.internal"
	}
}
