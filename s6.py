from app.websocket_manager import get_manager


def get_connection_manager():
    return get_manager()


async def notify(user_id, payload):
    await get_connection_manager().send_to_user(user_id, payload)


class ChatAgent:
    def __init__(self):
        self.ws = get_connection_manager()
