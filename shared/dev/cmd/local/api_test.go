package main

import (
	"reflect"
	"testing"
)

func TestSplitAPIArgs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"GET /api/worker-manager/v1/worker-pools", []string{"GET", "/api/worker-manager/v1/worker-pools"}},
		{`PUT /x {"providerId": "aws", "a b": "c"}`, []string{"PUT", "/x", `{"providerId": "aws", "a b": "c"}`}},
		{"  PUT\t/x   @pool.json  ", []string{"PUT", "/x", "@pool.json"}},
		{"POST http://127.0.0.1:18080/x -", []string{"POST", "http://127.0.0.1:18080/x", "-"}},
		{"GET", []string{"GET"}},
	} {
		if got := splitAPIArgs(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitAPIArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRequestURL(t *testing.T) {
	for _, tc := range []struct{ root, target, want string }{
		{"http://127.0.0.1:8080", "/api/x", "http://127.0.0.1:8080/api/x"},
		{"http://127.0.0.1:8080/", "/api/x", "http://127.0.0.1:8080/api/x"},
		{"http://127.0.0.1:8080", "api/x", "http://127.0.0.1:8080/api/x"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:18080/api/x?a=b", "http://127.0.0.1:18080/api/x?a=b"},
		{"http://127.0.0.1:8080", "https://tc.example.com/api/x", "https://tc.example.com/api/x"},
	} {
		if got := requestURL(tc.root, tc.target); got != tc.want {
			t.Errorf("requestURL(%q, %q) = %q, want %q", tc.root, tc.target, got, tc.want)
		}
	}
}
