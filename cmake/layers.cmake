# The layers of src/: one folder, one library. The single table of which folder may include
# (and link) which; CMakeLists.txt builds the libraries from it and cmake/check_layers.cmake
# holds every #include of src/ to it, at build time and as the ctest test `layers`.
#
# Lowest first; a layer may use only layers listed before it, so the graph has no cycles and a
# change low down never needs a change higher up. The election logic sits at the bottom with
# nothing but the standard library: it must stay testable on a fake clock and an in-memory
# store, whatever the API client, the listeners or the config file do.
set(LEASEHOLD_LAYERS util election log kube health config status agent)

# LEASEHOLD_LAYER_<folder>: the folders it may include; LEASEHOLD_LAYER_<folder>_LIBS: the
# third-party libraries it links.
set(LEASEHOLD_LAYER_util "")  # time text, durations, UTF-8, Kubernetes names, host:port, setting errors, JSON text, handler gate
set(LEASEHOLD_LAYER_util_LIBS nlohmann_json::nlohmann_json)
set(LEASEHOLD_LAYER_election "")  # the election state machine: the standard library only
set(LEASEHOLD_LAYER_election_LIBS "")
set(LEASEHOLD_LAYER_log util)  # JSON lines on stderr
set(LEASEHOLD_LAYER_log_LIBS nlohmann_json::nlohmann_json)
set(LEASEHOLD_LAYER_kube election util)  # API client, Lease JSON, the watch: a LeaseStore
set(LEASEHOLD_LAYER_kube_LIBS cpprestsdk::cpprest nlohmann_json::nlohmann_json yaml-cpp Boost::boost OpenSSL::SSL
                              OpenSSL::Crypto Threads::Threads)
set(LEASEHOLD_LAYER_health election util)  # the app's health probes
set(LEASEHOLD_LAYER_health_LIBS Boost::boost Threads::Threads)
set(LEASEHOLD_LAYER_config election health util)  # flags, environment, YAML
set(LEASEHOLD_LAYER_config_LIBS yaml-cpp)
set(LEASEHOLD_LAYER_status election util)  # what the app sees: board, HTTP, files, metrics
set(LEASEHOLD_LAYER_status_LIBS nlohmann_json::nlohmann_json prometheus-cpp::core Boost::boost Threads::Threads)
set(LEASEHOLD_LAYER_agent config election health kube log status util)  # wires them together
set(LEASEHOLD_LAYER_agent_LIBS Boost::boost Threads::Threads)
