package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// selfSigned makes an RSA key and a self-signed certificate for it.
func selfSigned(t testing.TB) (*rsa.PrivateKey, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return key, certFor(t, &key.PublicKey, key)
}

func certFor(t testing.TB, pub any, signer crypto.Signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// sign signs a document as EC2's signature endpoint does: base64 of RSA PKCS#1
// v1.5 over its SHA-256.
func sign(t testing.TB, key *rsa.PrivateKey, doc string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(doc))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// document is an identity document as EC2 writes it, for region.
func document(region string) string {
	return `{
  "accountId" : "123456789012",
  "architecture" : "x86_64",
  "availabilityZone" : "` + region + `b",
  "billingProducts" : null,
  "devpayProductCodes" : null,
  "marketplaceProductCodes" : null,
  "imageId" : "ami-5fb8c835",
  "instanceId" : "i-1234567890abcdef0",
  "instanceType" : "t2.micro",
  "kernelId" : null,
  "pendingTime" : "2016-11-19T16:32:11Z",
  "privateIp" : "10.158.112.84",
  "ramdiskId" : null,
  "region" : "` + region + `",
  "version" : "2017-09-30"
}`
}

// TestEmbeddedCertificates: every embedded certificate parses with crypto/x509 and
// carries an RSA key; every file is used; the regions with a key are exactly the
// documented ones.
func TestEmbeddedCertificates(t *testing.T) {
	files, err := fs.Glob(certFiles, "certs/*.pem")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, f := range awsRegions {
		used[f] = true
	}
	for _, f := range files {
		data, _ := certFiles.ReadFile(f)
		block, rest := pem.Decode(data)
		if block == nil || block.Type != "CERTIFICATE" || strings.TrimSpace(string(rest)) != "" {
			t.Errorf("%s: not exactly one PEM certificate", f)
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		key, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok || key.N.BitLen() < 1024 {
			t.Errorf("%s: key %T, want RSA of 1024 bits or more", f, cert.PublicKey)
		}
		if !used[strings.TrimPrefix(f, "certs/")] {
			t.Errorf("%s is embedded but no region uses it", f)
		}
		delete(used, strings.TrimPrefix(f, "certs/"))
	}
	for f := range used {
		t.Errorf("regions use %s, which is not embedded", f)
	}

	v := NewAWSVerifier()
	var got []string
	for region := range v.keys {
		got = append(got, region)
	}
	sort.Strings(got)
	want := []string{
		"af-south-1", "ap-east-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-south-2",
		"ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ca-central-1", "ca-west-1",
		"cn-north-1", "cn-northwest-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2",
		"eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "sa-east-1",
		"us-east-1", "us-east-2", "us-gov-east-1", "us-gov-west-1", "us-west-1", "us-west-2",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("regions with an embedded key (-want +got):\n%s", diff)
	}
	if v.wildcard != nil {
		t.Error("the AWS verifier trusts a key for every region")
	}
}

// TestEmbeddedKeysMatchCurrentCertificates: AWS's current per-region page
// (testdata/regions-certs, one certificate per region, re-issued since the
// documentation text the embedded certificates come from) carries, for every
// region, the key embedded for it.
func TestEmbeddedKeysMatchCurrentCertificates(t *testing.T) {
	files, err := filepath.Glob("testdata/regions-certs/*.pem")
	if err != nil || len(files) == 0 {
		t.Fatalf("no current certificates: %v", err)
	}
	v := NewAWSVerifier()
	seen := map[string]bool{}
	for _, f := range files {
		region := strings.TrimSuffix(filepath.Base(f), ".pem")
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		current, err := rsaKey(data)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		embedded := v.keys[region]
		if embedded == nil || !embedded.Equal(current) {
			t.Errorf("%s: the current certificate's key is not the one embedded for %s (%s)", f, region, awsRegions[region])
		}
		seen[region] = true
	}
	for region := range awsRegions {
		if !seen[region] {
			t.Errorf("no current certificate in testdata for %s", region)
		}
	}
}

// TestRealAWSDocument verifies an identity document and signature AWS made for an
// instance in ap-southeast-2, with the embedded keys only.
func TestRealAWSDocument(t *testing.T) {
	doc, err := os.ReadFile("testdata/ap-southeast-2-document.json")
	if err != nil {
		t.Fatal(err)
	}
	sig, err := os.ReadFile("testdata/ap-southeast-2-signature.txt")
	if err != nil {
		t.Fatal(err)
	}
	v := NewAWSVerifier()
	got, err := v.Verify(doc, string(sig))
	if err != nil {
		t.Fatalf("AWS's own document: %v", err)
	}
	want := Document{AccountID: "189292791360", Architecture: "arm64", AvailabilityZone: "ap-southeast-2a", ImageID: "ami-0cbde744623b7506b",
		InstanceID: "i-0c5541936caf78c12", InstanceType: "t4g.small", PendingTime: time.Date(2026, 2, 16, 0, 38, 27, 0, time.UTC),
		PrivateIP: "10.0.1.242", Region: "ap-southeast-2", Version: "2017-09-30"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("document (-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		name string
		doc  []byte
	}{
		{"another instance id", []byte(strings.Replace(string(doc), "i-0c5541936caf78c12", "i-0c5541936caf78c13", 1))},
		{"a trailing newline", append(append([]byte{}, doc...), '\n')},
		{"another account", []byte(strings.Replace(string(doc), "189292791360", "189292791361", 1))},
	} {
		if _, err := v.Verify(tt.doc, string(sig)); err == nil {
			t.Errorf("%s: verified", tt.name)
		}
	}
	// Another region's key refuses it: the document names its region, and the
	// key is that region's.
	moved := strings.Replace(string(doc), `"region" : "ap-southeast-2"`, `"region" : "ap-east-1"`, 1)
	if _, err := v.Verify([]byte(moved), string(sig)); err == nil {
		t.Error("the document verified after naming another region")
	}
}

func TestVerify(t *testing.T) {
	key, cert := selfSigned(t)
	other, otherCert := selfSigned(t)
	v := NewAWSVerifier()
	if err := v.Trust("us-west-2", cert); err != nil {
		t.Fatal(err)
	}
	if err := v.Trust("eu-west-1", otherCert); err != nil {
		t.Fatal(err)
	}
	doc := document("us-west-2")
	got, err := v.Verify([]byte(doc), sign(t, key, doc))
	if err != nil {
		t.Fatal(err)
	}
	want := Document{AccountID: "123456789012", Architecture: "x86_64", AvailabilityZone: "us-west-2b", ImageID: "ami-5fb8c835",
		InstanceID: "i-1234567890abcdef0", InstanceType: "t2.micro", PendingTime: time.Date(2016, 11, 19, 16, 32, 11, 0, time.UTC),
		PrivateIP: "10.158.112.84", Region: "us-west-2", Version: "2017-09-30"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("document (-want +got):\n%s", diff)
	}
	// A signature with line breaks, as the metadata service may serve it.
	wrapped := sign(t, key, doc)
	wrapped = wrapped[:64] + "\n" + wrapped[64:128] + "\r\n" + wrapped[128:] + "\n"
	if _, err := v.Verify([]byte(doc), wrapped); err != nil {
		t.Errorf("a wrapped signature: %v", err)
	}

	sig := sign(t, key, doc)
	unknown := document("ap-southeast-5")
	tests := []struct {
		name, doc, sig, want string
	}{
		{"tampered document", strings.Replace(doc, "i-1234567890abcdef0", "i-0000000000000000f", 1), sig, "does not verify"},
		{"tampered pendingTime", strings.Replace(doc, "16:32:11", "16:32:12", 1), sig, "does not verify"},
		{"a space added", doc + " ", sig, "does not verify"},
		{"signed with another region's key", doc, sign(t, other, doc), "does not verify"},
		{"another region's document with this signature", document("eu-west-1"), sign(t, key, document("eu-west-1")), "does not verify"},
		{"AWS's key for a region we signed for", document("us-east-1"), sign(t, key, document("us-east-1")), "does not verify"},
		{"garbage signature", doc, "!!!not base64!!!", "not base64"},
		{"empty signature", doc, "", "not base64"},
		{"short signature", doc, base64.StdEncoding.EncodeToString([]byte("abc")), "does not verify"},
		{"signature bits flipped", doc, flip(sig), "does not verify"},
		{"oversized signature", doc, strings.Repeat("A", maxSignature+4), "over"},
		{"region with no trusted key", unknown, sign(t, key, unknown), "no certificate is trusted"},
		{"region not of a region's form", strings.Replace(doc, `"us-west-2",`, `"nowhere",`, 1), sig, "no valid region"},
		{"region missing", strings.Replace(doc, `"region" : "us-west-2",`, "", 1), sig, "no valid region"},
		{"region not a string", strings.Replace(doc, `"us-west-2",`, `7,`, 1), sig, "not a JSON object"},
		{"not JSON", "not json", sign(t, key, "not json"), "not a JSON object"},
		{"JSON array", `["region"]`, sign(t, key, `["region"]`), "not a JSON object"},
		{"JSON null", `null`, sign(t, key, `null`), "no valid region"},
		{"empty document", "", sig, "empty"},
		{"oversized document", strings.Repeat(" ", MaxDocument+1), sig, "over"},
		{"signed but with an unparsable pendingTime", strings.Replace(doc, "2016-11-19T16:32:11Z", "yesterday", 1),
			sign(t, key, strings.Replace(doc, "2016-11-19T16:32:11Z", "yesterday", 1)), "fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Verify([]byte(tt.doc), tt.sig)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %+v, %v; want an error mentioning %q", got, err, tt.want)
			}
			if tt.sig != "" && len(tt.sig) > 16 && strings.Contains(err.Error(), tt.sig[:16]) {
				t.Errorf("the error %q quotes the signature", err)
			}
		})
	}
}

func flip(sig string) string {
	raw, _ := base64.StdEncoding.DecodeString(sig)
	raw[len(raw)/2] ^= 0x40
	return base64.StdEncoding.EncodeToString(raw)
}

// TestTrust: Trust("*") replaces every key, a later region override wins, bad input
// is refused, and the zero Verifier trusts nothing until told.
func TestTrust(t *testing.T) {
	key, cert := selfSigned(t)
	other, otherCert := selfSigned(t)
	v := NewAWSVerifier()
	if err := v.Trust("*", cert); err != nil {
		t.Fatal(err)
	}
	for _, region := range []string{"us-east-1", "ap-east-1", "cn-north-1", "mx-central-1", "xx-nowhere-9"} {
		d := document(region)
		if _, err := v.Verify([]byte(d), sign(t, key, d)); err != nil {
			t.Errorf("after Trust(*), %s: %v", region, err)
		}
	}
	if err := v.Trust("eu-west-1", otherCert); err != nil {
		t.Fatal(err)
	}
	d := document("eu-west-1")
	if _, err := v.Verify([]byte(d), sign(t, key, d)); err == nil {
		t.Error("eu-west-1: the wildcard key still verified after a region override")
	}
	if _, err := v.Verify([]byte(d), sign(t, other, d)); err != nil {
		t.Errorf("eu-west-1 with its own key: %v", err)
	}

	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tt := range []struct {
		name, region string
		pem          []byte
	}{
		{"not a region", "Not a region", cert},
		{"empty region", "", cert},
		{"a region pattern", "us-*", cert},
		{"junk", "us-east-1", []byte("junk")},
		{"a private key", "us-east-1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})},
		{"a corrupt certificate", "us-east-1", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("nope")})},
		{"an ECDSA certificate", "us-east-1", certFor(t, &ecKey.PublicKey, ecKey)},
	} {
		if err := v.Trust(tt.region, tt.pem); err == nil {
			t.Errorf("%s: Trust accepted it", tt.name)
		}
	}

	var zero Verifier
	if _, err := zero.Verify([]byte(d), sign(t, other, d)); err == nil || !strings.Contains(err.Error(), "no certificate is trusted") {
		t.Errorf("the zero Verifier: %v", err)
	}
	if err := zero.Trust("eu-west-1", otherCert); err != nil {
		t.Fatal(err)
	}
	if _, err := zero.Verify([]byte(d), sign(t, other, d)); err != nil {
		t.Errorf("the zero Verifier after Trust: %v", err)
	}
}

// TestConcurrentUse: Verify and Trust may run at once (go test -race).
func TestConcurrentUse(t *testing.T) {
	key, cert := selfSigned(t)
	v := NewAWSVerifier()
	if err := v.Trust("us-west-2", cert); err != nil {
		t.Fatal(err)
	}
	d := document("us-west-2")
	sig := sign(t, key, d)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if i%2 == 0 {
					v.Trust("us-west-2", cert)
				} else if _, err := v.Verify([]byte(d), sig); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
}

func TestStaticSecrets(t *testing.T) {
	s := "bR5MlHPzQ7S3KFq0yWZk2gXwDlc8dO4kTqJ1nAvE9Ppu"
	for _, tt := range []struct {
		secret string
		want   bool
	}{
		{s, true},
		{"-_" + s[2:], true},
		{s[1:], false},
		{s + "x", false},
		{s[:43] + "!", false},
		{s[:43] + "=", false},
		{s[:43] + "\n", false},
		{s + "\n", false},
		{"", false},
	} {
		if got := ValidStaticSecret(tt.secret); got != tt.want {
			t.Errorf("ValidStaticSecret(%q) = %v, want %v", tt.secret, got, tt.want)
		}
	}
	h := HashStaticSecret(s)
	if len(h) != sha256.Size || strings.Contains(string(h), s) {
		t.Fatalf("HashStaticSecret = %x", h)
	}
	for _, tt := range []struct {
		name      string
		hash      []byte
		presented string
		want      bool
	}{
		{"the secret", h, s, true},
		{"one character off", h, s[:43] + "x", false},
		{"empty", h, "", false},
		{"no hash", nil, s, false},
		{"a truncated hash", h[:16], s, false},
		{"the hash of the empty string against it", HashStaticSecret(""), "", true},
	} {
		if got := StaticSecretMatches(tt.hash, tt.presented); got != tt.want {
			t.Errorf("%s: StaticSecretMatches = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	b.Run("rsa-2048", func(b *testing.B) {
		key, cert := selfSigned(b)
		v := NewAWSVerifier()
		if err := v.Trust("us-west-2", cert); err != nil {
			b.Fatal(err)
		}
		d := []byte(document("us-west-2"))
		sig := sign(b, key, string(d))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(d, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("aws-embedded", func(b *testing.B) {
		d, err := os.ReadFile("testdata/ap-southeast-2-document.json")
		if err != nil {
			b.Fatal(err)
		}
		sig, err := os.ReadFile("testdata/ap-southeast-2-signature.txt")
		if err != nil {
			b.Fatal(err)
		}
		v := NewAWSVerifier()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(d, string(sig)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
