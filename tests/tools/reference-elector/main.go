// Command reference-elector is the anchor leasehold is compared against: a
// minimal sidecar built on client-go's tools/leaderelection with the same
// flags and the same GET /v1/leader answer (200 while leading, 503 otherwise).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

func main() {
	namespace := flag.String("namespace", "default", "namespace of the Lease")
	election := flag.String("election", "", "name of the Lease")
	identity := flag.String("identity", "", "holder identity (default hostname_pid)")
	leaseDuration := flag.Duration("lease-duration", 15*time.Second, "lease duration")
	renewDeadline := flag.Duration("renew-deadline", 10*time.Second, "renew deadline")
	retryPeriod := flag.Duration("retry-period", 2*time.Second, "retry period")
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig path (empty: in-cluster)")
	statusAddress := flag.String("status-address", "127.0.0.1:4040", "address of the status listener")
	flag.Parse()
	if *election == "" {
		fmt.Fprintln(os.Stderr, "--election is required")
		os.Exit(2)
	}
	if *identity == "" {
		host, _ := os.Hostname()
		*identity = fmt.Sprintf("%s_%d", host, os.Getpid())
	}

	var config *rest.Config
	var err error
	if *kubeconfig != "" {
		config, err = clientcmd.BuildConfigFromFlags("", *kubeconfig)
	} else {
		config, err = rest.InClusterConfig()
	}
	if err != nil {
		log.Fatalf("kubernetes config: %v", err)
	}
	config.UserAgent = "reference-elector"
	client := kubernetes.NewForConfigOrDie(config)

	var leading atomic.Bool
	var leader atomic.Value
	leader.Store("")

	mux := http.NewServeMux()
	mux.HandleFunc("/v1/leader", func(w http.ResponseWriter, r *http.Request) {
		body, _ := json.Marshal(map[string]any{"identity": *identity, "isLeader": leading.Load(), "leader": leader.Load()})
		w.Header().Set("Content-Type", "application/json")
		if !leading.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		w.Write(body)
	})
	go func() { log.Fatal(http.ListenAndServe(*statusAddress, mux)) }()

	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-signals
		leading.Store(false)
		cancel()
	}()

	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: *namespace, Name: *election},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: *identity},
	}
	// client-go's Run returns after losing the lease; a sidecar re-enters the
	// election instead, as every client-go based sidecar does.
	for ctx.Err() == nil {
		runOnce(ctx, lock, *leaseDuration, *renewDeadline, *retryPeriod, *election, *identity, &leading, &leader)
	}
	log.Printf("%s: released and exiting", *identity)
}

func runOnce(ctx context.Context, lock resourcelock.Interface, leaseDuration, renewDeadline, retryPeriod time.Duration,
	election, identity string, leading *atomic.Bool, leader *atomic.Value) {
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   leaseDuration,
		RenewDeadline:   renewDeadline,
		RetryPeriod:     retryPeriod,
		ReleaseOnCancel: true,
		Name:            election,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) {
				leading.Store(true)
				log.Printf("%s: started leading", identity)
			},
			OnStoppedLeading: func() {
				leading.Store(false)
				log.Printf("%s: stopped leading", identity)
			},
			OnNewLeader: func(id string) { leader.Store(id) },
		},
	})
}
