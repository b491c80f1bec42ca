"""The chapter-8 mazes: layouts, changing walls, gymnasium's own checker, bad input."""
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from envs_wrappers import MAZE_IDS, BlockingMaze, DynaMaze, Maze, ShortcutMaze, make_env, scale_layout, tabular_model

UP, RIGHT, DOWN, LEFT = range(4)


@pytest.mark.parametrize("env_id", sorted(MAZE_IDS.values()))
def test_mazes_pass_gymnasiums_check_env(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # any checker warning fails the test
        check_env(make_env(env_id).unwrapped)


def test_dyna_maze_is_figure_8_2():
    env = DynaMaze()
    assert (env.n_rows, env.n_cols) == (6, 9) and len(env.open_states) == 47
    assert divmod(env.reset(seed=0)[0], 9) == (2, 0)
    assert np.flatnonzero(env.goals).tolist() == [8]
    assert env.shortest_path_length() == 14
    assert env.step(RIGHT)[:4] == (19, 0.0, False, False)
    assert env.step(RIGHT)[0] == 19                          # wall at (2, 2): stays put
    env.s = 17                                               # (1, 8), just below the goal
    assert env.step(UP)[:4] == (8, 1.0, True, False)
    assert env.render().splitlines()[0] == ".......#x"


def test_blocking_maze_moves_its_wall_after_the_given_steps_and_a_seeded_reset_restores_it():
    env = BlockingMaze(change_at=3)
    env.reset(seed=0)
    assert env.shortest_path_length() == 10
    for _ in range(3):
        env.step(DOWN)                                       # bottom row: stays
    assert env.shortest_path_length() == 16 and env.total_steps == 3
    env.reset()                                              # a new episode keeps the changed maze
    assert env.shortest_path_length() == 16
    env.reset(seed=1)                                        # a new run starts from the first layout
    assert env.shortest_path_length() == 10 and env.total_steps == 0
    for _ in range(3):
        env.step(DOWN)
    env.reset(options={"restart": True})
    assert env.shortest_path_length() == 10


def test_shortcut_maze_opens_a_shortcut_and_keeps_the_long_path():
    env = ShortcutMaze(change_at=2)
    env.reset(seed=0)
    assert env.shortest_path_length() == 16
    env.step(DOWN)
    env.step(DOWN)
    assert env.shortest_path_length() == 10
    assert not env.walls[3 * 9 + 0] and not env.walls[3 * 9 + 8]


def test_scaled_dyna_maze_keeps_its_structure():
    for rows, cols in ((2, 1), (2, 2), (4, 2)):
        env = DynaMaze((rows, cols))
        assert len(env.open_states) == 47 * rows * cols
        assert env.goals.sum() == rows * cols
    assert scale_layout(("S#G",), 1, 2) == ("S.##GG",)
    assert DynaMaze((2, 2)).shortest_path_length() == 27


def test_maze_model_gives_the_shortest_path_value():
    """Value iteration on the env's model: V(S) = gamma^13 for the 14-step path (reward 1 at the end)."""
    from algorithms.tabular import value_iteration
    env = DynaMaze()
    model = tabular_model(env)
    np.testing.assert_allclose(model.P.sum(axis=2), 1.0)
    values = value_iteration(model.P, model.R, 0.95, terminal=model.terminal).values
    assert values[env.start_state] == pytest.approx(0.95 ** 13)


def test_greedy_path_length_follows_the_lowest_index_greedy_action():
    env = DynaMaze()
    Q = np.zeros((54, 4))
    assert env.greedy_path_length(Q) is None                 # all "up": stuck at the top
    Q[[18, 9], UP] = Q[[0, 1, 2, 3, 4, 5], RIGHT] = Q[[6, 15, 24], DOWN] = 1.0
    Q[[33, 34], RIGHT] = Q[[35, 26, 17], UP] = 1.0
    assert env.greedy_path_length(Q) == 16                   # the way over the top of the wall
    with pytest.raises(ValueError, match="shape"):
        env.greedy_path_length(np.zeros((5, 4)))


def test_bad_maze_input_raises_clear_errors():
    with pytest.raises(ValueError, match="characters"):
        Maze(("S.x", "..G"))
    with pytest.raises(ValueError, match="exactly one 'S'"):
        Maze(("...", "..G"))
    with pytest.raises(ValueError, match="equal length"):
        Maze(("S..", ".G"))
    with pytest.raises(ValueError, match="change_at"):
        Maze((("S.G",), ("SG.",)))
    with pytest.raises(ValueError, match="change_at"):
        BlockingMaze(change_at=0)
    with pytest.raises(ValueError, match="row_factor"):
        DynaMaze((0, 1))
    with pytest.raises(ValueError, match="resolution"):
        DynaMaze(2)
    with pytest.raises(ValueError, match="action"):
        DynaMaze().step(4)
    with pytest.raises(ValueError, match="render_mode"):
        DynaMaze(render_mode="rgb_array")
    with pytest.raises(ValueError, match="no goal is reachable"):
        Maze(("S#G",)).shortest_path_length()


def test_registered_ids_build_without_a_time_limit():
    env = gym.make(MAZE_IDS["ShortcutMaze"])
    assert env.spec.max_episode_steps is None and isinstance(env.unwrapped, ShortcutMaze)
