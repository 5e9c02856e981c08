package samtemplate

import (
	"fmt"
	"regexp"
	"strings"
)

// DynamoDBGrant is one DynamoDB action a function's policies allow on one table
// (its logical id) or on one of the table's indexes.
type DynamoDBGrant struct {
	Action string // "dynamodb:PutItem"
	Table  string // logical id
	Index  string // "" for the table itself
}

// AllowsDynamoDB reports whether the function's policies allow action on the table
// (logical id) or, with index set, on that index of it. IAM grants a table's ARN
// and its indexes' ARNs separately: a grant on the table does not cover a query of
// its index.
func (f *Function) AllowsDynamoDB(action, table, index string) bool {
	for _, g := range f.DynamoDB {
		if g.Action == action && g.Table == table && g.Index == index {
			return true
		}
	}
	return false
}

// indexArn is "${Table.Arn}/index/name", the form the template writes index ARNs in.
var indexArn = regexp.MustCompile(`^\$\{([A-Za-z0-9]+)\.Arn\}/index/([A-Za-z0-9_.-]+)$`)

// dynamoDBGrants reads the Allow statements of a function's Policies that name
// DynamoDB actions. Their resources must be written as the template writes them
// (!GetAtt Table.Arn, or !Sub "${Table.Arn}/index/name"), so that nothing is
// granted that this reading cannot see; a statement inside a condition (!If) is
// read as granted.
func dynamoDBGrants(id string, policies any) ([]DynamoDBGrant, error) {
	var grants []DynamoDBGrant
	var statement func(st any) error
	statement = func(st any) error {
		m := mapOf(st)
		if branches, ok := m["Fn::If"].([]any); ok && len(branches) == 3 {
			for _, b := range branches[1:] {
				if err := statement(b); err != nil {
					return err
				}
			}
			return nil
		}
		if str(m["Effect"]) != "Allow" {
			return nil // a Deny, or !Ref AWS::NoValue
		}
		var actions []string
		for _, a := range append(listOf(m["Action"]), m["Action"]) {
			if s := str(a); strings.HasPrefix(s, "dynamodb:") {
				actions = append(actions, s)
			}
		}
		if len(actions) == 0 {
			return nil
		}
		resources := listOf(m["Resource"])
		if resources == nil {
			resources = []any{m["Resource"]}
		}
		for _, r := range resources {
			rm := mapOf(r)
			var table, index string
			if ga := listOf(rm["Fn::GetAtt"]); len(ga) == 2 && str(ga[1]) == "Arn" {
				table = str(ga[0])
			} else if sub := indexArn.FindStringSubmatch(str(rm["Fn::Sub"])); sub != nil {
				table, index = sub[1], sub[2]
			} else {
				return fmt.Errorf("function %s: a DynamoDB grant's resource %v is neither !GetAtt Table.Arn nor !Sub \"${Table.Arn}/index/name\"", id, r)
			}
			for _, a := range actions {
				grants = append(grants, DynamoDBGrant{Action: a, Table: table, Index: index})
			}
		}
		return nil
	}
	for _, p := range listOf(policies) {
		for _, st := range listOf(mapOf(p)["Statement"]) {
			if err := statement(st); err != nil {
				return nil, err
			}
		}
	}
	return grants, nil
}
