"""Local HTTP stand-ins for WeChat's and Telegram's servers, with configurable base URLs."""
