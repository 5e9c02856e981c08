package ec2

import "math"

// onDemandUSEast1 holds approximate Linux on-demand prices (USD per hour) in
// us-east-1 for common instance types. They are for ranking launch choices and
// estimating cost, not billing: AWS changes prices, and the real ones are in the
// AWS Price List API, which the driver does not call.
var onDemandUSEast1 = map[string]float64{
	"t3.nano": 0.0052, "t3.micro": 0.0104, "t3.small": 0.0208, "t3.medium": 0.0416,
	"t3.large": 0.0832, "t3.xlarge": 0.1664, "t3.2xlarge": 0.3328,
	"t3a.nano": 0.0047, "t3a.micro": 0.0094, "t3a.small": 0.0188, "t3a.medium": 0.0376,
	"t3a.large": 0.0752, "t3a.xlarge": 0.1504, "t3a.2xlarge": 0.3008,
	"t4g.nano": 0.0042, "t4g.micro": 0.0084, "t4g.small": 0.0168, "t4g.medium": 0.0336,
	"t4g.large": 0.0672, "t4g.xlarge": 0.1344, "t4g.2xlarge": 0.2688,
	"m5.large": 0.096, "m5.xlarge": 0.192, "m5.2xlarge": 0.384, "m5.4xlarge": 0.768,
	"m5.8xlarge": 1.536, "m5.12xlarge": 2.304, "m5.16xlarge": 3.072, "m5.24xlarge": 4.608,
	"m5a.large": 0.086, "m5a.xlarge": 0.172, "m5a.2xlarge": 0.344, "m5a.4xlarge": 0.688,
	"m5d.large": 0.113, "m5d.xlarge": 0.226, "m5d.2xlarge": 0.452, "m5d.4xlarge": 0.904,
	"m6i.large": 0.096, "m6i.xlarge": 0.192, "m6i.2xlarge": 0.384, "m6i.4xlarge": 0.768,
	"m6a.large": 0.0864, "m6a.xlarge": 0.1728, "m6a.2xlarge": 0.3456, "m6a.4xlarge": 0.6912,
	"m6g.medium": 0.0385, "m6g.large": 0.077, "m6g.xlarge": 0.154, "m6g.2xlarge": 0.308, "m6g.4xlarge": 0.616,
	"m7i.large": 0.1008, "m7i.xlarge": 0.2016, "m7i.2xlarge": 0.4032, "m7i.4xlarge": 0.8064,
	"m7g.medium": 0.0408, "m7g.large": 0.0816, "m7g.xlarge": 0.1632, "m7g.2xlarge": 0.3264, "m7g.4xlarge": 0.6528,
	"c5.large": 0.085, "c5.xlarge": 0.17, "c5.2xlarge": 0.34, "c5.4xlarge": 0.68,
	"c5.9xlarge": 1.53, "c5.12xlarge": 2.04, "c5.18xlarge": 3.06, "c5.24xlarge": 4.08,
	"c5a.large": 0.077, "c5a.xlarge": 0.154, "c5a.2xlarge": 0.308, "c5a.4xlarge": 0.616,
	"c5d.large": 0.096, "c5d.xlarge": 0.192, "c5d.2xlarge": 0.384, "c5d.4xlarge": 0.768,
	"c6i.large": 0.085, "c6i.xlarge": 0.17, "c6i.2xlarge": 0.34, "c6i.4xlarge": 0.68,
	"c6a.large": 0.0765, "c6a.xlarge": 0.153, "c6a.2xlarge": 0.306, "c6a.4xlarge": 0.612,
	"c6g.medium": 0.034, "c6g.large": 0.068, "c6g.xlarge": 0.136, "c6g.2xlarge": 0.272, "c6g.4xlarge": 0.544,
	"c7i.large": 0.08925, "c7i.xlarge": 0.1785, "c7i.2xlarge": 0.357, "c7i.4xlarge": 0.714,
	"c7g.medium": 0.0363, "c7g.large": 0.0725, "c7g.xlarge": 0.145, "c7g.2xlarge": 0.29, "c7g.4xlarge": 0.58,
	"r5.large": 0.126, "r5.xlarge": 0.252, "r5.2xlarge": 0.504, "r5.4xlarge": 1.008,
	"r6i.large": 0.126, "r6i.xlarge": 0.252, "r6i.2xlarge": 0.504, "r6i.4xlarge": 1.008,
	"r6g.medium": 0.0504, "r6g.large": 0.1008, "r6g.xlarge": 0.2016, "r6g.2xlarge": 0.4032,
	"i3.large": 0.156, "i3.xlarge": 0.312, "i3.2xlarge": 0.624,
	"z1d.large": 0.186, "z1d.xlarge": 0.372,
	"g4dn.xlarge": 0.526, "g4dn.2xlarge": 0.752, "g4dn.4xlarge": 1.204, "g4dn.8xlarge": 2.176, "g4dn.12xlarge": 3.912,
	"g5.xlarge": 1.006, "g5.2xlarge": 1.212, "g5.4xlarge": 1.624, "g5.8xlarge": 2.448,
	"p3.2xlarge": 3.06, "p3.8xlarge": 12.24, "p3.16xlarge": 24.48,
	"inf1.xlarge": 0.228, "inf1.2xlarge": 0.362, "inf2.xlarge": 0.7582,
	"x1e.xlarge": 0.834, "x2gd.medium": 0.0835,
	"mac1.metal": 1.083,
}

// regionFactor approximates how much dearer a region is than us-east-1 (from the
// m5.large price). Regions not listed are priced as us-east-1.
var regionFactor = map[string]float64{
	"us-east-1": 1, "us-east-2": 1, "us-west-2": 1, "us-west-1": 1.167,
	"ca-central-1": 1.115, "sa-east-1": 1.594,
	"eu-west-1": 1.115, "eu-west-2": 1.156, "eu-west-3": 1.167, "eu-central-1": 1.198, "eu-north-1": 1.063,
	"ap-south-1": 1.052, "ap-northeast-1": 1.292, "ap-northeast-2": 1.229, "ap-southeast-1": 1.25, "ap-southeast-2": 1.25,
}

// ApproxOnDemandPrice returns the approximate Linux on-demand price (USD per hour)
// of instanceType in region, from an embedded table of us-east-1 prices of common
// types scaled by a per-region factor (regions without a factor get the us-east-1
// price). It returns false for a type the table does not hold. The prices are
// approximate and date from when the table was written.
func ApproxOnDemandPrice(region, instanceType string) (float64, bool) {
	p, ok := onDemandUSEast1[instanceType]
	if !ok {
		return 0, false
	}
	if f, ok := regionFactor[region]; ok {
		p *= f
	}
	return math.Round(p*1e6) / 1e6, true
}
