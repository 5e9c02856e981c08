package awsprovisioner

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/workerfleet/workerfleet/shared/httpapi"
	"github.com/workerfleet/workerfleet/shared/pool"
)

// checkResources refuses a worker type whose regions lack its AMI or the security
// groups (by name, SecurityGroups) its launch specs name there: the
// aws-provisioner's workerTypeCanLaunch at createWorkerType and updateWorkerType, as
// a 400 InputError "Invalid workerType: ...". EC2 failing to answer is a 503.
func (s *Service) checkResources(ctx context.Context, def pool.WorkerType) error {
	if s.Resources == nil {
		return nil
	}
	rc, err := s.Resources()
	if err != nil {
		return fmt.Errorf("EC2 resource checks: %w", err)
	}
	options := def.Options() // expanded once, not once per region
	var reasons []string
	for _, r := range def.Regions {
		missing, err := rc.MissingImages(ctx, r.Region, []string{r.ImageID()})
		if err != nil {
			return unavailable(err)
		}
		for _, id := range missing {
			reasons = append(reasons, fmt.Sprintf("%s not found in %s", id, r.Region))
		}
		groups := securityGroupNames(options, r.Region)
		missing, err = rc.MissingSecurityGroups(ctx, r.Region, groups)
		if err != nil {
			return unavailable(err)
		}
		if len(missing) > 0 {
			reasons = append(reasons, fmt.Sprintf("security groups %s not found in %s", strings.Join(missing, ", "), r.Region))
		}
	}
	if len(reasons) > 0 {
		return httpapi.InputError("Invalid workerType: %s", strings.Join(reasons, "; "))
	}
	return nil
}

// securityGroupNames are the SecurityGroups (names) of every merged launch spec of
// region among a worker type's options, sorted, without duplicates.
func securityGroupNames(options []pool.Option, region string) []string {
	var out []string
	for _, o := range options {
		if o.Region != region {
			continue
		}
		var spec struct{ SecurityGroups []string }
		_ = json.Unmarshal(o.LaunchSpec, &spec)
		out = append(out, spec.SecurityGroups...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func unavailable(err error) error {
	return httpapi.Errorf(http.StatusServiceUnavailable, "ServiceUnavailable",
		"the worker type's AMIs and security groups could not be checked with EC2 (%v); retry", err)
}
