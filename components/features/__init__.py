"""Features with Feast: the `feast.store` resource and the stages that apply the repo in `feature_repo/`,
materialize it incrementally, build point-in-time training sets and fetch online features.

Feast costs ~8 s to import, so only ``FeastStore.open()`` and the functions it calls import it.
"""
