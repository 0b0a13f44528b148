"""boxnet as a CNI plugin (CNI spec 1.1): a thin client of boxnetd.

config   sans-I/O: the network configuration and environment checked, CNI errors
main     the executable: reads stdin and CNI_* variables, asks boxnetd over its unix
         socket (/boxnet/v1/cni/...), prints the result or the CNI error

The daemon side is api/routes/cni.py and core/cniops.py. Only the stdlib is imported
here: a plugin is started once per ADD/DEL, so its start-up time is its cost.
"""
