"""WeChatConfig: the settings are checked at start-up."""

from __future__ import annotations

import pytest

from tests.channels.wechat.support import AES_KEY, APPID


@pytest.mark.parametrize(
    ("key", "appid", "problem"),
    [
        (AES_KEY[:42], APPID, "43 characters"),
        (AES_KEY + "A", APPID, "43 characters"),
        (AES_KEY[:42] + "=", APPID, "letters, digits"),
        (AES_KEY, "", "WECHAT_APPID"),
    ],
)
def test_encoding_aes_key_is_checked_at_start_up(
    wechat_env: pytest.MonkeyPatch, key: str, appid: str, problem: str
) -> None:
    from channels.wechat import WeChatInput
    from channels.wechat.config import ConfigError

    wechat_env.setenv("WECHAT_AES_KEY", key)
    wechat_env.setenv("WECHAT_APPID", appid)
    with pytest.raises(ConfigError, match=problem):
        WeChatInput()
    wechat_env.setenv("WECHAT_AES_KEY", AES_KEY)
    wechat_env.setenv("WECHAT_APPID", APPID)
    assert WeChatInput().cfg.aes_key == bytes(range(1, 33))
