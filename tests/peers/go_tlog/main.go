// Command go_tlog is the Go peer of tests/test_audit_checkpoint.py: it runs golang.org/x/mod/sumdb/note and
// golang.org/x/mod/sumdb/tlog on what aifabric wrote, and writes notes and proofs for aifabric to read.
//
// It reads one JSON request on stdin and writes one JSON response on stdout. Every field is optional;
// []byte fields are base64 (encoding/json's form), so notes and hashes travel byte for byte.
//
//	{"open":    [{"note": b64, "vkeys": ["name+keyid+b64"]}],
//	 "sign":    [{"text": "...", "skeys": ["PRIVATE+KEY+..."], "generate": ["name"]}],
//	 "leaves":  [b64 record data],              // the log that prove_* and roots are about
//	 "roots":   [size],                          // tlog.TreeHash
//	 "prove_record": [[index, size]],            // tlog.ProveRecord
//	 "prove_tree":   [[old, new]],               // tlog.ProveTree
//	 "check_record": [{"index", "size", "leaf": b64, "root": b64, "proof": [b64]}],  // tlog.CheckRecord
//	 "check_tree":   [{"old", "new", "old_root": b64, "new_root": b64, "proof": [b64]}], // tlog.CheckTree
//	 "parse_tree":   [b64 note text]}            // tlog.ParseTree
//
// Errors are reported per item as strings ("" when it verified); the exit status is non-zero only when the
// request itself cannot be read.
//
// Build it with no network: GO111MODULE=off GOPATH=/usr/share/gocode go build (Debian's golang-golang-x-mod-dev).
package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type openReq struct {
	Note  []byte   `json:"note"`
	VKeys []string `json:"vkeys"`
}

type openResp struct {
	Error      string   `json:"error"`
	Kind       string   `json:"kind"` // "", "malformed", "invalid_signature", "unverified", "verifier", "other"
	Text       string   `json:"text"`
	Sigs       []string `json:"sigs"`
	Unverified []string `json:"unverified"`
}

type signReq struct {
	Text     string   `json:"text"`
	SKeys    []string `json:"skeys"`
	Generate []string `json:"generate"`
}

type signResp struct {
	Error string   `json:"error"`
	Note  string   `json:"note"`
	SKeys []string `json:"skeys"`
	VKeys []string `json:"vkeys"`
}

type recordCheck struct {
	Index int64    `json:"index"`
	Size  int64    `json:"size"`
	Leaf  []byte   `json:"leaf"`
	Root  []byte   `json:"root"`
	Proof [][]byte `json:"proof"`
}

type treeCheck struct {
	Old     int64    `json:"old"`
	New     int64    `json:"new"`
	OldRoot []byte   `json:"old_root"`
	NewRoot []byte   `json:"new_root"`
	Proof   [][]byte `json:"proof"`
}

type treeResp struct {
	Error string `json:"error"`
	Size  int64  `json:"size"`
	Root  []byte `json:"root"`
}

type request struct {
	Open        []openReq     `json:"open"`
	Sign        []signReq     `json:"sign"`
	Leaves      [][]byte      `json:"leaves"`
	Roots       []int64       `json:"roots"`
	ProveRecord [][2]int64    `json:"prove_record"`
	ProveTree   [][2]int64    `json:"prove_tree"`
	CheckRecord []recordCheck `json:"check_record"`
	CheckTree   []treeCheck   `json:"check_tree"`
	ParseTree   [][]byte      `json:"parse_tree"`
}

type response struct {
	Open        []openResp `json:"open"`
	Sign        []signResp `json:"sign"`
	Roots       [][]byte   `json:"roots"`
	ProveRecord [][][]byte `json:"prove_record"`
	ProveTree   [][][]byte `json:"prove_tree"`
	CheckRecord []string   `json:"check_record"`
	CheckTree   []string   `json:"check_tree"`
	ParseTree   []treeResp `json:"parse_tree"`
}

func hash(b []byte) (tlog.Hash, error) {
	var h tlog.Hash
	if len(b) != tlog.HashSize {
		return h, fmt.Errorf("a hash of %d bytes", len(b))
	}
	copy(h[:], b)
	return h, nil
}

func hashes(list [][]byte) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, 0, len(list))
	for _, b := range list {
		h, err := hash(b)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

func raw(list []tlog.Hash) [][]byte {
	out := make([][]byte, 0, len(list))
	for _, h := range list {
		out = append(out, append([]byte(nil), h[:]...))
	}
	return out
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func open(r openReq) openResp {
	var verifiers []note.Verifier
	for _, vkey := range r.VKeys {
		v, err := note.NewVerifier(vkey)
		if err != nil {
			return openResp{Error: err.Error(), Kind: "verifier"}
		}
		verifiers = append(verifiers, v)
	}
	n, err := note.Open(r.Note, note.VerifierList(verifiers...))
	if err != nil {
		var invalid *note.InvalidSignatureError
		var unverified *note.UnverifiedNoteError
		kind := "other"
		switch {
		case errors.As(err, &invalid):
			kind = "invalid_signature"
		case errors.As(err, &unverified):
			kind = "unverified"
		case err.Error() == "malformed note":
			kind = "malformed"
		}
		return openResp{Error: err.Error(), Kind: kind}
	}
	resp := openResp{Text: n.Text, Sigs: []string{}, Unverified: []string{}}
	for _, s := range n.Sigs {
		resp.Sigs = append(resp.Sigs, s.Name)
	}
	for _, s := range n.UnverifiedSigs {
		resp.Unverified = append(resp.Unverified, s.Name)
	}
	return resp
}

func sign(r signReq) signResp {
	resp := signResp{SKeys: []string{}, VKeys: []string{}}
	var signers []note.Signer
	skeys := append([]string(nil), r.SKeys...)
	for _, name := range r.Generate {
		skey, vkey, err := note.GenerateKey(rand.Reader, name)
		if err != nil {
			return signResp{Error: err.Error()}
		}
		skeys = append(skeys, skey)
		resp.SKeys = append(resp.SKeys, skey)
		resp.VKeys = append(resp.VKeys, vkey)
	}
	for _, skey := range skeys {
		s, err := note.NewSigner(skey)
		if err != nil {
			return signResp{Error: err.Error()}
		}
		signers = append(signers, s)
	}
	msg, err := note.Sign(&note.Note{Text: r.Text}, signers...)
	if err != nil {
		return signResp{Error: err.Error()}
	}
	resp.Note = string(msg)
	return resp
}

// memoryLog stores the hashes tlog asks a log to keep, the way the sumdb server does.
type memoryLog []tlog.Hash

func (m memoryLog) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, 0, len(indexes))
	for _, i := range indexes {
		if i < 0 || i >= int64(len(m)) {
			return nil, fmt.Errorf("no stored hash %d", i)
		}
		out = append(out, m[i])
	}
	return out, nil
}

func run(req request) (response, error) {
	resp := response{
		Open: []openResp{}, Sign: []signResp{}, Roots: [][]byte{}, ProveRecord: [][][]byte{},
		ProveTree: [][][]byte{}, CheckRecord: []string{}, CheckTree: []string{}, ParseTree: []treeResp{},
	}
	for _, r := range req.Open {
		resp.Open = append(resp.Open, open(r))
	}
	for _, r := range req.Sign {
		resp.Sign = append(resp.Sign, sign(r))
	}

	var log memoryLog
	for n, data := range req.Leaves {
		stored, err := tlog.StoredHashes(int64(n), data, log)
		if err != nil {
			return resp, err
		}
		log = append(log, stored...)
	}
	for _, size := range req.Roots {
		h, err := tlog.TreeHash(size, log)
		if err != nil {
			return resp, err
		}
		resp.Roots = append(resp.Roots, h[:])
	}
	for _, p := range req.ProveRecord {
		proof, err := tlog.ProveRecord(p[1], p[0], log)
		if err != nil {
			return resp, err
		}
		resp.ProveRecord = append(resp.ProveRecord, raw(proof))
	}
	for _, p := range req.ProveTree {
		proof, err := tlog.ProveTree(p[1], p[0], log)
		if err != nil {
			return resp, err
		}
		resp.ProveTree = append(resp.ProveTree, raw(proof))
	}

	for _, c := range req.CheckRecord {
		resp.CheckRecord = append(resp.CheckRecord, errText(checkRecord(c)))
	}
	for _, c := range req.CheckTree {
		resp.CheckTree = append(resp.CheckTree, errText(checkTree(c)))
	}
	for _, text := range req.ParseTree {
		tree, err := tlog.ParseTree(text)
		resp.ParseTree = append(resp.ParseTree, treeResp{Error: errText(err), Size: tree.N, Root: tree.Hash[:]})
	}
	return resp, nil
}

func checkRecord(c recordCheck) error {
	leaf, err := hash(c.Leaf)
	if err != nil {
		return err
	}
	root, err := hash(c.Root)
	if err != nil {
		return err
	}
	proof, err := hashes(c.Proof)
	if err != nil {
		return err
	}
	return tlog.CheckRecord(proof, c.Size, root, c.Index, leaf)
}

func checkTree(c treeCheck) error {
	oldRoot, err := hash(c.OldRoot)
	if err != nil {
		return err
	}
	newRoot, err := hash(c.NewRoot)
	if err != nil {
		return err
	}
	proof, err := hashes(c.Proof)
	if err != nil {
		return err
	}
	return tlog.CheckTree(proof, c.New, newRoot, c.Old, oldRoot)
}

func main() {
	var req request
	dec := json.NewDecoder(os.Stdin)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "go_tlog: bad request:", err)
		os.Exit(2)
	}
	resp, err := run(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go_tlog:", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(resp); err != nil {
		fmt.Fprintln(os.Stderr, "go_tlog:", err)
		os.Exit(1)
	}
}
