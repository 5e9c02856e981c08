// Package launchspec decodes and checks launch specs: the extra RunInstances fields a
// worker type or pool sets. It is the EC2 driver's decoding, apart from the driver so
// that the API functions can validate definitions without linking the EC2 client
// (which would more than double their binaries).
package launchspec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/workerfleet/workerfleet/shared/cloud"
)

// Decode decodes a launch spec (extra RunInstances fields, in EC2's API
// names: SecurityGroupIds, SubnetId, KeyName, BlockDeviceMappings,
// IamInstanceProfile, Placement, EbsOptimized, MetadataOptions, ...) onto a
// RunInstancesInput. Empty or null is an empty input. Unknown fields, values of
// the wrong JSON type, anything after the object, and TagSpecifications for
// resources other than "instance" and "volume" (the IAM policy lets the driver tag
// nothing else) are a cloud.ConfigError.
//
// As with encoding/json, field names match case-insensitively.
func Decode(spec json.RawMessage) (*ec2.RunInstancesInput, error) {
	in := &ec2.RunInstancesInput{}
	trimmed := bytes.TrimSpace(spec)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return in, nil
	}
	if trimmed[0] != '{' {
		return nil, specError("InvalidParameterValue", "launch spec is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(in); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field") {
			return nil, specError("UnknownParameter", "launch spec: "+strings.TrimPrefix(err.Error(), "json: "))
		}
		return nil, specError("InvalidParameterValue", "launch spec: "+strings.TrimPrefix(err.Error(), "json: "))
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return nil, specError("InvalidParameterValue", "launch spec: data after the JSON object")
	}
	for _, ts := range in.TagSpecifications {
		if ts.ResourceType != types.ResourceTypeInstance && ts.ResourceType != types.ResourceTypeVolume {
			return nil, specError("InvalidParameterValue",
				fmt.Sprintf("launch spec: TagSpecifications for %q: only instance and volume tags are allowed", ts.ResourceType))
		}
	}
	return in, nil
}

// Validate reports whether spec would be accepted by the EC2 driver's Launch, as a
// cloud.ConfigError when not, so the API can refuse a bad worker pool (HTTP 400)
// before storing it.
func Validate(spec json.RawMessage) error {
	_, err := Decode(spec)
	return err
}

func specError(code, message string) error {
	return cloud.ClassifyEC2Error(code, message, time.Now())
}
