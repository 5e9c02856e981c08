package pool

import (
	"regexp"
	"slices"
	"strings"
)

var (
	workerTypeNameRE = regexp.MustCompile(`^[A-Za-z0-9+/=_-]{1,22}$`)
	workerPoolIDRE   = regexp.MustCompile(`^[a-zA-Z0-9-_]{1,38}/[a-z]([-a-z0-9]{0,36}[a-z0-9])?$`)
	identifierRE     = regexp.MustCompile(`^([a-zA-Z0-9-_]*)$`)
	regionRE         = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)
	zoneSuffixRE     = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	instanceTypeRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*\.[a-z0-9][a-z0-9-]*$`)
	sqsQueueURLRE    = regexp.MustCompile(`^https://sqs\.([a-z]{2}(-[a-z]+)+-[0-9]{1,2})\.amazonaws\.com(\.cn)?/[0-9]{12}/[A-Za-z0-9_-]{1,80}(\.fifo)?$`)
)

// ValidWorkerTypeName reports whether s is a valid aws-provisioner worker type name
// (^[A-Za-z0-9+/=_-]{1,22}$).
func ValidWorkerTypeName(s string) bool { return workerTypeNameRE.MatchString(s) }

// ValidWorkerPoolID reports whether s is a valid worker-manager worker pool id,
// <provisionerId>/<workerType>.
func ValidWorkerPoolID(s string) bool { return workerPoolIDRE.MatchString(s) }

// SplitWorkerPoolID splits a worker pool id into the provisionerId and workerType the
// Taskcluster queue knows it by. An id without "/" yields it whole as provisionerId
// and an empty workerType.
func SplitWorkerPoolID(id string) (provisionerID, workerType string) {
	provisionerID, workerType, _ = strings.Cut(id, "/")
	return provisionerID, workerType
}

// ValidProviderID reports whether s is a well-formed provider id (1 to 38 of
// a-z A-Z 0-9 - _). It does not say whether such a provider exists; see Providers.
func ValidProviderID(s string) bool { return validIdentifier(s) }

// ValidWorkerGroup reports whether s is a well-formed worker group.
func ValidWorkerGroup(s string) bool { return validIdentifier(s) }

// ValidLaunchConfigID reports whether s is a well-formed launch config id (today's
// worker-manager: 1 to 38 of a-z A-Z 0-9 - _).
func ValidLaunchConfigID(s string) bool { return validIdentifier(s) }

// ValidWorkerID reports whether s is a well-formed worker id.
func ValidWorkerID(s string) bool { return validIdentifier(s) }

func validIdentifier(s string) bool {
	return len(s) >= 1 && len(s) <= 38 && identifierRE.MatchString(s)
}

// wellFormedRegion reports whether s looks like an AWS region name (us-east-1,
// us-gov-west-1, ap-southeast-2, ...).
func wellFormedRegion(s string) bool { return len(s) <= 32 && regionRE.MatchString(s) }

// zoneOfRegion reports whether az names an availability zone (us-east-1a) or a local
// or wavelength zone (us-west-2-lax-1a) of region.
func zoneOfRegion(az, region string) bool {
	if len(az) > 64 || !strings.HasPrefix(az, region) {
		return false
	}
	rest := az[len(region):]
	if len(rest) == 1 {
		return rest[0] >= 'a' && rest[0] <= 'z'
	}
	return strings.HasPrefix(rest, "-") && zoneSuffixRE.MatchString(rest[1:])
}

func wellFormedInstanceType(s string) bool { return len(s) <= 40 && instanceTypeRE.MatchString(s) }

// checkRegion records a problem if region is not well formed or not allowed.
func (c *checker) checkRegion(path, region string, o ParseOptions) {
	switch {
	case !wellFormedRegion(region):
		c.addf(path, "%q is not a well-formed AWS region name", region)
	case len(o.AllowedRegions) > 0 && !slices.Contains(o.AllowedRegions, region):
		c.addf(path, "%q is not an allowed region (allowed: %s)", region, strings.Join(o.AllowedRegions, ", "))
	}
}
