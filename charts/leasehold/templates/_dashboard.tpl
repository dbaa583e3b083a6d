{{/*
leasehold.dashboard: a ConfigMap holding leasehold's Grafana dashboard (leasehold.json), labelled
so that Grafana's dashboard sidecar (grafana_dashboard: "1" by default) loads it, when
dashboard.enabled. Panels: who leads each election, leaders per election, time without a leader,
terms begun, claim left, renew latency, renewals, API requests, Lease errors, watches, app health,
shards, Events. Every panel's query is run against a real Prometheus by cluster_test.sh.
Usage (a template file of the parent chart):
  {{- include "leasehold.dashboard" (dict "Values" .Values.leasehold "context" $) }}
*/}}
{{- define "leasehold.dashboard" -}}
{{- if .Values.dashboard.enabled }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "leasehold.fullname" . }}-dashboard
  labels:
    {{- include "leasehold.labels" . | nindent 4 }}
    {{- with .Values.dashboard.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
data:
  leasehold.json: |
    {{- include "leasehold.dashboardJSON" . | nindent 4 }}
{{- end }}
{{- end -}}

{{/*
leasehold.dashboardJSON: the dashboard itself (Grafana JSON model; variables datasource and
namespace). Also written to manifests/leasehold-dashboard.json by manifests/generate.sh.
*/}}
{{- define "leasehold.dashboardJSON" -}}
{
  "title": "leasehold",
  "uid": "leasehold",
  "tags": [
    "leasehold",
    "leader-election"
  ],
  "timezone": "browser",
  "schemaVersion": 39,
  "version": 1,
  "refresh": "30s",
  "time": {
    "from": "now-6h",
    "to": "now"
  },
  "description": "Leader elections run by leasehold sidecars: who leads, time without a leader, transitions, renewals, API errors, watches, app health, shards, Events.",
  "templating": {
    "list": [
      {
        "name": "datasource",
        "type": "datasource",
        "query": "prometheus",
        "label": "Data source"
      },
      {
        "name": "namespace",
        "type": "query",
        "datasource": {
          "type": "prometheus",
          "uid": "${datasource}"
        },
        "query": {
          "query": "label_values(leasehold_is_leader, namespace)",
          "refId": "namespaces"
        },
        "definition": "label_values(leasehold_is_leader, namespace)",
        "includeAll": true,
        "multi": true,
        "allValue": ".+",
        "label": "Namespace",
        "refresh": 2
      }
    ]
  },
  "panels": [
    {
      "type": "table",
      "title": "Who leads each election",
      "description": "The pods whose sidecar says it leads now (one row per election).",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "targets": [
        {
          "refId": "A",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "leasehold_is_leader{namespace=~\"$namespace\"} == 1",
          "legendFormat": "__auto"
        }
      ],
      "fieldConfig": {
        "defaults": {},
        "overrides": []
      },
      "options": {},
      "id": 1,
      "gridPos": {
        "h": 8,
        "w": 12,
        "x": 0,
        "y": 0
      }
    },
    {
      "type": "timeseries",
      "title": "Leaders per election (must be 1)",
      "description": "Two for longer than a scrape interval fires LeaseholdTwoLeaders.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "targets": [
        {
          "refId": "A",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "sum by (namespace, election) (leasehold_is_leader{namespace=~\"$namespace\"})",
          "legendFormat": "__auto"
        }
      ],
      "fieldConfig": {
        "defaults": {},
        "overrides": []
      },
      "options": {},
      "id": 2,
      "gridPos": {
        "h": 8,
        "w": 12,
        "x": 12,
        "y": 0
      }
    },
    {
      "type": "timeseries",
      "title": "Without a leader (1 = none)",
      "description": "1 while no pod of the election says it leads.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "targets": [
        {
          "refId": "A",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "1 - max by (namespace, election) (leasehold_is_leader{namespace=~\"$namespace\"})",
          "legendFormat": "__auto"
        }
      ],
      "fieldConfig": {
        "defaults": {},
        "overrides": []
      },
      "options": {},
      "id": 3,
      "gridPos": {
        "h": 8,
        "w": 12,
        "x": 0,
        "y": 8
      }
    },
    {
      "type": "timeseries",
      "title": "Terms begun (1h)",
      "description": "",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "targets": [
        {
          "refId": "A",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "sum by (namespace, election) (increase(leasehold_leadership_transitions_total{namespace=~\"$namespace\",direction=\"started\"}[1h]))",
          "legendFormat": "__auto"
        }
      ],
      "fieldConfig": {
        "defaults": {},
        "overrides": []
      },
      "options": {},
      "id": 4,
      "gridPos": {
        "h": 8,
        "w": 12,
        "x": 12,
        "y": 8
      }
    },
    {
      "type": "timeseries",
      "title": "Claim left (seconds)",
      "description": "How long the leader's claim runs without another renewal.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "targets": [
        {
          "refId": "A",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "max by (namespace, election) (leasehold_leadership_valid_seconds{namespace=~\"$namespace\"})",
          "legendFormat": "__auto"
        }
      ],
      "fieldConfig": {
        "defaults": {
          "unit": "s"
        },
        "overrides": []
      },
      "options": {},
      "id": 5,
      "gridPos": {
        "h": 8,
        "w": 12,
        "x": 0,
        "y": 16
      }
    },
    {
      "type": "timeseries",
      "title": "Renew latency p99",
      "description": "",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "targets": [
        {
          "refId": "A",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "histogram_quantile(0.99, sum by (le, namespace, election) (rate(leasehold_renew_duration_seconds_bucket{namespace=~\"$namespace\"}[$__rate_interval])))",
          "legendFormat": "__auto"
        }
      ],
      "fieldConfig": {
        "defaults": {
          "unit": "s"
        },
        "overrides": []
      },
      "options": {},
      "id": 6,
      "gridPos": {
        "h": 8,
        "w": 12,
        "x": 12,
        "y": 16
      }
    },
    {
      "type": "timeseries",
      "title": "Renewals by outcome",
      "description": "",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "targets": [
        {
          "refId": "A",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "sum by (namespace, election, outcome) (rate(leasehold_renewals_total{namespace=~\"$namespace\"}[$__rate_interval]))",
          "legendFormat": "__auto"
        }
      ],
      "fieldConfig": {
        "defaults": {
          "unit": "reqps"
        },
        "overrides": []
      },
      "options": {},
      "id": 7,
      "gridPos": {
        "h": 8,
        "w": 12,
        "x": 0,
        "y": 24
      }
    },
    {
      "type": "timeseries",
      "title": "API requests by verb and code",
      "description": "Codes other than 2xx, and timeout/network/rate_limited, are the API errors.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "targets": [
        {
          "refId": "A",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "sum by (verb, code) (rate(leasehold_api_requests_total{namespace=~\"$namespace\"}[$__rate_interval]))",
          "legendFormat": "__auto"
        }
      ],
      "fieldConfig": {
        "defaults": {
          "unit": "reqps"
        },
        "overrides": []
      },
      "options": {},
      "id": 8,
      "gridPos": {
        "h": 8,
        "w": 12,
        "x": 12,
        "y": 24
      }
    },
    {
      "type": "timeseries",
      "title": "Lease errors by operation and kind",
      "description": "",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "targets": [
        {
          "refId": "A",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "sum by (namespace, election, operation, error) (leasehold_lease_errors_total{namespace=~\"$namespace\"})",
          "legendFormat": "__auto"
        }
      ],
      "fieldConfig": {
        "defaults": {},
        "overrides": []
      },
      "options": {},
      "id": 9,
      "gridPos": {
        "h": 8,
        "w": 12,
        "x": 0,
        "y": 32
      }
    },
    {
      "type": "timeseries",
      "title": "Watch connected",
      "description": "0: the sidecar polls the Lease every retry period instead of watching it.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "targets": [
        {
          "refId": "A",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "min by (namespace, election) (leasehold_watch_connected{namespace=~\"$namespace\"})",
          "legendFormat": "__auto"
        }
      ],
      "fieldConfig": {
        "defaults": {},
        "overrides": []
      },
      "options": {},
      "id": 10,
      "gridPos": {
        "h": 8,
        "w": 12,
        "x": 12,
        "y": 32
      }
    },
    {
      "type": "timeseries",
      "title": "App health (health checks on)",
      "description": "",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "targets": [
        {
          "refId": "A",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "min by (namespace, election, pod) (leasehold_app_healthy{namespace=~\"$namespace\"})",
          "legendFormat": "__auto"
        },
        {
          "refId": "B",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "sum by (namespace, election, outcome) (rate(leasehold_app_health_checks_total{namespace=~\"$namespace\"}[$__rate_interval]))",
          "legendFormat": "__auto"
        }
      ],
      "fieldConfig": {
        "defaults": {},
        "overrides": []
      },
      "options": {},
      "id": 11,
      "gridPos": {
        "h": 8,
        "w": 12,
        "x": 0,
        "y": 40
      }
    },
    {
      "type": "timeseries",
      "title": "Shards owned per member (sharded elections)",
      "description": "",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "targets": [
        {
          "refId": "A",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "sum by (namespace, election, pod) (leasehold_shards_owned{namespace=~\"$namespace\"})",
          "legendFormat": "__auto"
        },
        {
          "refId": "B",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "max by (namespace, election) (leasehold_shard_members{namespace=~\"$namespace\"})",
          "legendFormat": "__auto"
        }
      ],
      "fieldConfig": {
        "defaults": {},
        "overrides": []
      },
      "options": {},
      "id": 12,
      "gridPos": {
        "h": 8,
        "w": 12,
        "x": 12,
        "y": 40
      }
    },
    {
      "type": "timeseries",
      "title": "Shard moves and time to rebalance",
      "description": "",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "targets": [
        {
          "refId": "A",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "sum by (namespace, election) (increase(leasehold_shard_moves_total{namespace=~\"$namespace\"}[1h]))",
          "legendFormat": "__auto"
        },
        {
          "refId": "B",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "histogram_quantile(0.9, sum by (le, namespace, election) (rate(leasehold_shard_rebalance_seconds_bucket{namespace=~\"$namespace\"}[1h])))",
          "legendFormat": "__auto"
        }
      ],
      "fieldConfig": {
        "defaults": {},
        "overrides": []
      },
      "options": {},
      "id": 13,
      "gridPos": {
        "h": 8,
        "w": 12,
        "x": 0,
        "y": 48
      }
    },
    {
      "type": "timeseries",
      "title": "Events by outcome",
      "description": "",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "targets": [
        {
          "refId": "A",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "sum by (outcome) (increase(leasehold_events_total{namespace=~\"$namespace\"}[1h]))",
          "legendFormat": "__auto"
        }
      ],
      "fieldConfig": {
        "defaults": {},
        "overrides": []
      },
      "options": {},
      "id": 14,
      "gridPos": {
        "h": 8,
        "w": 12,
        "x": 12,
        "y": 48
      }
    }
  ]
}
{{- end -}}
