package cloud

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// ValidateLaunchRequest checks what both drivers check before any call, and
// returns a ConfigError (classified by ClassifyEC2Error with the code EC2 itself
// would answer) for: a missing region, instance type or image, a Count outside
// 1..MaxLaunchCount, user data over MaxUserDataBytes, a ClientToken over
// MaxClientTokenLength or not printable ASCII, a negative or non-finite
// MaxPrice, a MaxPrice without Spot, and caller tags that EC2 would refuse or that
// the set owns (TagInstanceSet, TagLaunch). It does not look at LaunchSpec, which is the driver's to decode.
func ValidateLaunchRequest(req LaunchRequest) error {
	bad := func(code, format string, args ...any) error {
		return ClassifyEC2Error(code, fmt.Sprintf(format, args...), time.Now())
	}
	switch {
	case req.Region == "":
		return bad("MissingParameter", "the request must contain the parameter Region")
	case req.InstanceType == "":
		return bad("MissingParameter", "the request must contain the parameter InstanceType")
	case req.ImageID == "":
		return bad("MissingParameter", "the request must contain the parameter ImageId")
	case req.Count < 1 || req.Count > MaxLaunchCount:
		return bad("InvalidParameterValue", "instance count %d is not between 1 and %d", req.Count, MaxLaunchCount)
	case len(req.UserData) > MaxUserDataBytes:
		return bad("InvalidParameterValue", "user data is %d bytes, more than the %d EC2 accepts", len(req.UserData), MaxUserDataBytes)
	case len(req.ClientToken) > MaxClientTokenLength:
		return bad("InvalidParameterValue", "client token is %d characters, more than %d", len(req.ClientToken), MaxClientTokenLength)
	case math.IsNaN(req.MaxPrice) || math.IsInf(req.MaxPrice, 0) || req.MaxPrice < 0:
		return bad("InvalidParameterValue", "max price %v is not a price", req.MaxPrice)
	case req.MaxPrice > 0 && !req.Spot:
		return bad("InvalidParameterCombination", "a max price is only for spot instances")
	}
	for _, r := range req.ClientToken {
		if r < 0x20 || r > 0x7e {
			return bad("InvalidParameterValue", "client token has a character that is not printable ASCII")
		}
	}
	if len(req.Tags) > MaxTags-2 {
		return bad("InvalidParameterValue", "%d tags, more than the %d EC2 allows besides the set's own 2", len(req.Tags), MaxTags-2)
	}
	for k, v := range req.Tags {
		switch {
		case k == TagInstanceSet || k == TagLaunch:
			return bad("InvalidParameterValue", "tag %s is set by the instance set, not the caller", k)
		case k == "" || len(k) > 128:
			return bad("InvalidParameterValue", "tag key %q must have 1 to 128 characters", k)
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			return bad("InvalidParameterValue", "tag key %q uses the reserved prefix aws:", k)
		case len(v) > 256:
			return bad("InvalidParameterValue", "tag %s has a value longer than 256 characters", k)
		}
	}
	return nil
}

// LaunchTags returns the tags an instance set puts on what it launches: the
// caller's tags plus TagInstanceSet = id and TagLaunch = token.
func LaunchTags(id InstanceSetID, tags map[string]string, token string) map[string]string {
	out := make(map[string]string, len(tags)+2)
	for k, v := range tags {
		out[k] = v
	}
	out[TagInstanceSet] = string(id)
	out[TagLaunch] = token
	return out
}

// ListFilter returns the tags an instance must all carry to be listed by the set
// id for the caller's tags: tags plus TagInstanceSet = id. It returns false when
// tags asks for TagInstanceSet with another id, which no instance of the set can
// match.
func ListFilter(id InstanceSetID, tags map[string]string) (map[string]string, bool) {
	if v, ok := tags[TagInstanceSet]; ok && v != string(id) {
		return nil, false
	}
	out := make(map[string]string, len(tags)+1)
	for k, v := range tags {
		out[k] = v
	}
	out[TagInstanceSet] = string(id)
	return out, true
}

// HasTags reports whether have carries every tag of want, with the same value.
func HasTags(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// QuotaGroup returns the EC2 On-Demand / Spot vCPU quota group of instanceType:
// "standard" for the A, C, D, H, I, M, R, T and Z families, and otherwise the
// family's letters: "g" (G and VT share one quota), "p", "f", "x", "u" (high
// memory), "inf", "dl", "trn", "hpc", "mac", and so on for families EC2 adds
// later. The family is the part before the first "." (or "-" for u-6tb1.metal),
// up to its first digit: "m5.large" -> "m" -> "standard", "inf2.xlarge" -> "inf",
// "g4dn.xlarge" -> "g". A name with no letters returns "".
func QuotaGroup(instanceType string) string {
	name := strings.ToLower(strings.TrimSpace(instanceType))
	end := 0
	for end < len(name) && name[end] >= 'a' && name[end] <= 'z' {
		end++
	}
	letters := name[:end]
	switch letters {
	case "":
		return ""
	case "inf", "dl", "trn", "hpc", "mac":
		return letters
	case "vt", "gr":
		return "g"
	}
	switch letters[0] {
	case 'a', 'c', 'd', 'h', 'i', 'm', 'r', 't', 'z':
		return "standard"
	}
	return letters
}
