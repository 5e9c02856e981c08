// Package pool owns the definitions users write for workerfleet to provision:
// aws-provisioner v1 worker types and worker-manager v1 worker pool provider configs.
// It validates them, gives them a canonical stored form, and expands them into the
// concrete launch options the provisioner chooses among. It knows nothing of Lambda,
// HTTP or DynamoDB: the API handlers and the provisioner call it.
//
// # Validation
//
// ParseWorkerType and ParseConfig report every problem they find at once, as an
// *InvalidError whose problems each start with the JSON path of the offending value:
//
//	instanceTypes[1].utility must be > 0
//	regions[0].launchSpec.ImageId is required
//	config.launchConfigs[0].launchConfig.UserData must not be set: the provisioner sets it
//
// Both kinds of definition are validated the same way: first a JSON Schema (for
// worker types the aws-provisioner's published one, schemas/worker-type*.json; for
// each pool provider type its own, schemas/config-*.json, whose aws one accepts what
// Taskcluster v25's did), then the rules a schema cannot say, as small named checks
// (minCapacity <= maxCapacity, regions, availability zones, launch specs, markets,
// the SQS queue URL).
//
// Definitions are stored and returned as written (WorkerType.Written, Config.JSON);
// defaults are applied when they are used, never stored.
//
// # Worker types: merge order
//
// A worker type sets launchSpec, userData and secrets at up to four levels. For each
// region x instance type (x availability zone, where zones are configured for the
// region) they are merged as the aws-provisioner merged them (createLaunchSpec),
// later levels winning:
//
//  1. the worker type: launchSpec, userData, secrets
//  2. the region: regions[].launchSpec, .userData, .secrets
//  3. the availability zone: availabilityZones[].launchSpec, .userData, .secrets
//  4. the instance type: instanceTypes[].launchSpec, .userData, .secrets
//
// The merge is shallow, member by member (lodash's assign): a member a later level
// sets replaces the earlier one whole, objects included, so an instance type's
// {"Placement": {"Tenancy": "dedicated"}} replaces the worker type's Placement rather
// than merging into it.
//
// Three RunInstances fields come from the structure of the definition, not from a
// launchSpec: ImageId from the region's launchSpec (the only launchSpec that may, and
// must, set it), InstanceType from instanceTypes[].instanceType, and
// Placement.AvailabilityZone from availabilityZones[].availabilityZone. Launch specs
// may not set those elsewhere, nor the fields the provisioner controls: UserData,
// MinCount, MaxCount, ClientToken, TagSpecifications (the provisioner tags instances)
// and InstanceMarketOptions (the provisioner decides between spot and on-demand).
//
// Scopes are the union of the worker type's, the region's and the instance type's
// scopes, sorted and without duplicates (availability zones have no scopes).
//
// For example, with
//
//	"launchSpec": {"KeyName": "wt", "Monitoring": {"Enabled": false}, "SecurityGroupIds": ["sg-wt"]},
//	"regions": [{"region": "us-east-1", "launchSpec": {"ImageId": "ami-1", "KeyName": "region",
//	             "SecurityGroupIds": ["sg-region"]}, ...}],
//	"instanceTypes": [{"instanceType": "m5.large", "launchSpec": {"KeyName": "type"}, ...}],
//	"availabilityZones": [{"region": "us-east-1", "availabilityZone": "us-east-1a",
//	                       "launchSpec": {"SubnetId": "subnet-a"}}]
//
// the option for m5.large in us-east-1a launches with
//
//	{"ImageId": "ami-1", "InstanceType": "m5.large", "KeyName": "type",
//	 "Monitoring": {"Enabled": false}, "Placement": {"AvailabilityZone": "us-east-1a"},
//	 "SecurityGroupIds": ["sg-region"], "SubnetId": "subnet-a"}
//
// and userData and secrets merge the same way. Configuring any zone of a region
// restricts that region to its configured zones; a region without configured zones
// has one option per instance type and market, with no zone (EC2 or the provisioner
// picks one).
//
// An aws-provisioner instance receives, base64-encoded in EC2 UserData, the JSON
// WorkerTypeUserData builds ({"data": <merged userData>, "capacity", "workerType",
// "provisionerId", "region", "availabilityZone", "instanceType", "spotBid", "price",
// "launchSpecGenerated", "lastModified", "provisionerBaseUrl", "taskclusterRootUrl",
// "securityToken"}); getLaunchSpecs (WorkerType.LaunchSpecs) previews exactly that,
// with the security token shown as "<generated per instance>". The merged secrets and
// scopes are what getSecret hands the instance for its token.
//
// # Price bounds
//
// An Option carries MinPrice and MaxPrice, bounds in USD on the hourly price of one
// instance; 0 means no bound. MaxPrice is a filter on current prices in both markets.
//
// A worker type's prices are per unit of utility, as the aws-provisioner's
// determineSpotBids used them: an instance qualifies while spot price / utility <=
// maxPrice, and its floor bid is minPrice / utility. So each of its options has
//
//	MinPrice = minPrice / utility
//	MaxPrice = maxPrice * utility
//
// and its BidRule (AWSProvisionerBids) sets the spot bid: twice the current spot
// price, rounded up to a millionth, raised to minPrice / utility where the price per
// unit of utility is below minPrice; no bid above $10 (Option.SpotBid).
//
// Worked example: minPrice 0.5 and maxPrice 2 with instance types m5.large (utility 1)
// and m5.xlarge (utility 2) give m5.large options MinPrice 0.5, MaxPrice 2, and
// m5.xlarge options MinPrice 0.25, MaxPrice 4: an m5.xlarge, which does twice the work,
// is launched while it costs at most $4 an hour and bid twice its spot price; an
// m5.large at a spot price of $0.10 (below minPrice) is bid $0.50.
//
// A pool launch config's maxPrice is absolute, per instance: maxPrice 0.4 gives
// MaxPrice 0.4 whatever its utility, and MinPrice is always 0. A launch config without
// maxPrice has MaxPrice 0, no bound: a spot request then offers up to the on-demand
// price, as EC2 does by default.
//
// # Scaling
//
// Worker types and pools both expose a Sizing. scalingRatio (a pool config's is
// optional, default 0) is the aws-provisioner's: the provisioner keeps
// round(scalingRatio * running capacity) tasks pending, and asks for
//
//	change = pendingTasks - pendingCapacity - round(scalingRatio * runningCapacity)
//
// capacity units, kept within [minCapacity, maxCapacity] (Sizing.CapacityChange).
// With 0 it asks for capacity for every pending task, which is worker-manager's own
// rule. A pool's demand (pendingTasks) is the Taskcluster queue's pendingTasks for its
// provisionerId/workerType, or, with demand.source "sqs", the number of messages in
// demand.queueUrl.
//
// # Worker pools
//
// A deployment's providers (Providers, from its PROVIDERS setting in Taskcluster's
// format) default to "aws" (type aws), "static" (type static); "null-provider" (type
// null, for pools pending deletion) is always there. An aws config is what v25's aws
// provider accepts and means what it meant there: launchConfig is RunInstances
// fields, spot when its InstanceMarketOptions says so and on-demand without,
// InstanceType defaulting to m1.small, capacityPerInstance set on the launch config or
// (as later Taskcluster versions write it) under workerManager. Optional extensions
// go beyond it: per launch config utility (default 1), market (default from
// InstanceMarketOptions) and maxPrice (default SpotOptions.MaxPrice), and per pool
// scalingRatio and demand; lifecycle.registrationTimeout defaults to 1800 seconds and
// lifecycle.reregistrationTimeout to 345600 (96 hours). An aws pool instance receives
// the JSON PoolUserData builds: the launch config's additionalUserData with rootUrl,
// workerPoolId, providerId, workerGroup (the providerId, as in v25) and workerConfig
// set over it.
package pool
