from core.tasks import channel_layer_is_process_local


def test_tasks_run_inline_only_with_the_in_memory_channel_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    assert channel_layer_is_process_local()
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {}}}
    assert not channel_layer_is_process_local()
