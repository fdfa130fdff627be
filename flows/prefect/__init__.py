"""Prefect: the executor that runs plans as flows, deployments, entrypoints and the local server. The only
package that imports prefect."""
